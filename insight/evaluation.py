"""How churn models are judged: ranking, lift, calibration; cross-validated and time-split.

Every figure is computed for the candidate *and* the logistic baseline on the same rows in
the same run, so a report can never show a model without its yardstick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import clone
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import has_fit_parameter

__all__ = [
    "calibration_table",
    "cross_validate",
    "expected_calibration_error",
    "lift_table",
    "lift_top_decile",
    "scores",
    "time_split",
]


def lift_top_decile(y: ArrayLike, risk: ArrayLike) -> float:
    """Churn rate among the 10% riskiest over the overall churn rate."""
    y = np.asarray(y, dtype=float)
    risk = np.asarray(risk, dtype=float)
    n_top = max(1, int(np.ceil(0.1 * y.size)))
    top = np.argsort(-risk, kind="stable")[:n_top]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else float("nan")


def expected_calibration_error(y: ArrayLike, risk: ArrayLike, bins: int = 10) -> float:
    """Row-weighted mean |observed − predicted| over equal-count bins of predicted risk."""
    table = calibration_table(y, risk, bins)
    weights = table["n"] / table["n"].sum()
    return float((weights * (table["observed"] - table["predicted"]).abs()).sum())


def calibration_table(y: ArrayLike, risk: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed churn per equal-count bin (the calibration curve)."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(risk, dtype=float)})
    frame = frame.sort_values("p", kind="stable").reset_index(drop=True)
    frame["bin"] = np.minimum(np.arange(len(frame)) * bins // max(len(frame), 1), bins - 1)
    grouped = frame.groupby("bin")
    return pd.DataFrame({"predicted": grouped["p"].mean(), "observed": grouped["y"].mean(),
                         "n": grouped.size()}).reset_index(drop=True)


def lift_table(y: ArrayLike, risk: ArrayLike, groups: int = 10) -> pd.DataFrame:
    """Churn rate and cumulative share of churners captured per risk decile (riskiest first)."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(risk, dtype=float)})
    frame = frame.sort_values("p", ascending=False, kind="stable").reset_index(drop=True)
    frame["decile"] = np.arange(len(frame)) * groups // max(len(frame), 1) + 1
    grouped = frame.groupby("decile")["y"]
    table = pd.DataFrame({"n": grouped.size(), "churners": grouped.sum()})
    table["churn_rate"] = table["churners"] / table["n"]
    base = frame["y"].mean()
    table["lift"] = table["churn_rate"] / base if base > 0 else np.nan
    total = table["churners"].sum()
    table["captured"] = table["churners"].cumsum() / total if total > 0 else np.nan
    return table.reset_index()


def scores(y: ArrayLike, risk: ArrayLike) -> dict[str, float]:
    """ROC AUC, PR AUC, top-decile lift, Brier score and calibration error."""
    y = np.asarray(y, dtype=int)
    risk = np.asarray(risk, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(y, risk)),
        "pr_auc": float(average_precision_score(y, risk)),
        "lift_top_decile": lift_top_decile(y, risk),
        "brier": float(brier_score_loss(y, risk)),
        "ece": expected_calibration_error(y, risk),
        "churn_rate": float(y.mean()),
        "n": int(y.size),
    }


def roc_points(y: ArrayLike, risk: ArrayLike, max_points: int = 200) -> pd.DataFrame:
    """ROC curve thinned to at most ``max_points`` for plotting."""
    fpr, tpr, _ = roc_curve(np.asarray(y, dtype=int), np.asarray(risk, dtype=float))
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def cross_validate(models: Mapping[str, Any], X: pd.DataFrame, y: ArrayLike,
                   n_splits: int = 5, random_state: int = 0) -> dict[str, Any]:
    """Stratified K-fold: pooled out-of-fold risk per model, and the figures on it.

    Returns ``{"metrics": DataFrame(model × metric, plus per-fold AUC mean/std),
    "risk": {model: out-of-fold risk}, "y": y}``.
    """
    y = np.asarray(y, dtype=int)
    folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=random_state).split(X, y))
    rows, risks = {}, {}
    for name, model in models.items():
        oof = np.zeros(len(y))
        fold_auc = []
        for train, test in folds:
            fitted = clone(model).fit(X.iloc[train], y[train])
            oof[test] = fitted.predict_proba(X.iloc[test])[:, 1]
            fold_auc.append(roc_auc_score(y[test], oof[test]))
        rows[name] = {**scores(y, oof), "fold_auc_mean": float(np.mean(fold_auc)),
                      "fold_auc_std": float(np.std(fold_auc))}
        risks[name] = oof
    return {"metrics": pd.DataFrame(rows).T, "risk": risks, "y": y}


def time_split(frames: Mapping[Any, tuple[pd.DataFrame, NDArray[np.int64]]],
               models: Mapping[str, Any], test_cutoff: Any | None = None,
               feature_sets: Mapping[str, Sequence[str]] | None = None,
               groups: Mapping[Any, ArrayLike] | None = None,
               ) -> dict[str, Any]:
    """Train on cut-offs before ``test_cutoff`` (default: the last), test on it.

    ``frames`` maps cut-off → (features, label). Each model is run with each feature set
    (e.g. ``{"with graph": all, "without graph": non-graph}``) on the same split.
    ``groups`` maps cut-off → subscriber ids; a model whose ``fit`` takes ``groups`` gets
    them, so its internal folds keep each subscriber's cut-offs together; one whose ``fit``
    takes ``periods`` gets each training row's cut-off (in order), to judge over time.
    """
    cutoffs = sorted(frames)
    test_cutoff = cutoffs[-1] if test_cutoff is None else test_cutoff
    train_cutoffs = [c for c in cutoffs if c < test_cutoff]
    if not train_cutoffs:
        raise ValueError("time-split needs at least one cut-off before the test cut-off")
    X_train = pd.concat([frames[c][0] for c in train_cutoffs], ignore_index=True)
    y_train = np.concatenate([np.asarray(frames[c][1], dtype=int) for c in train_cutoffs])
    X_test, y_test = frames[test_cutoff][0], np.asarray(frames[test_cutoff][1], dtype=int)
    train_groups = (np.concatenate([np.asarray(groups[c]) for c in train_cutoffs])
                    if groups is not None else None)
    train_periods = np.concatenate([np.full(len(frames[c][1]), i)
                                    for i, c in enumerate(train_cutoffs)])
    feature_sets = feature_sets or {"all": list(X_train.columns)}
    rows, risks, fitted = [], {}, {}
    for set_name, columns in feature_sets.items():
        for name, model in models.items():
            estimator = clone(model)
            extra: dict[str, Any] = {}
            if train_groups is not None and has_fit_parameter(estimator, "groups"):
                extra["groups"] = train_groups
            if has_fit_parameter(estimator, "periods"):
                extra["periods"] = train_periods
            estimator.fit(X_train[list(columns)], y_train, **extra)
            risk = estimator.predict_proba(X_test[list(columns)])[:, 1]
            rows.append({"model": name, "features": set_name, **scores(y_test, risk)})
            risks[(name, set_name)] = risk
            fitted[(name, set_name)] = estimator
    return {"metrics": pd.DataFrame(rows), "risk": risks, "y": y_test, "models": fitted,
            "train_cutoffs": train_cutoffs, "test_cutoff": test_cutoff}


ScoreFn = Callable[[ArrayLike, ArrayLike], float]
