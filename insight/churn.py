"""Churn risk: a calibrated gradient-boosted model with reasons, and its logistic baseline.

The retention team asks "whom do we call this week, and why?". ``ChurnRiskModel`` answers
the first with a calibrated probability (so expected losses add up) and the second with
``reasons``: the features pushing each subscriber's risk up, from LightGBM's exact TreeSHAP
contributions (``pred_contrib=True``), turned into phrases an agent can read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from graph.catalogue import FEATURES

__all__ = ["PHRASES", "ChurnRiskModel", "describe_feature", "logistic_baseline"]

# Feature → phrase an agent reads, from the feature catalogue. ``{v}`` is the subscriber's
# value, in str.format syntax. Features without a phrase read "<feature words>: <value>".
PHRASES: dict[str, str] = {
    f.name: f.phrase for f in FEATURES.values() if f.phrase is not None}


def describe_feature(name: str, value: Any, phrases: Mapping[str, str] | None = None) -> str:
    """One feature value in words, from the phrase table or a humanised fallback."""
    template = (phrases or PHRASES).get(name)
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if template is not None and not missing:
        try:
            return template.format(v=value)
        except (ValueError, TypeError):
            pass
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").strip().lower()
    if missing:
        return f"{words}: unknown"
    if isinstance(value, float | np.floating):
        return f"{words}: {value:.3g}"
    return f"{words}: {value}"


def _categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns
            if isinstance(X[c].dtype, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(X[c]) or pd.api.types.is_string_dtype(X[c])]


def logistic_baseline(C: float = 1.0, random_state: int = 0) -> Pipeline:
    """The baseline every report shows: one-hot categoricals, standardised numbers, L2 LR."""
    numeric = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                            StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore", min_frequency=5))
    prep = make_column_transformer(
        (numeric, make_column_selector(dtype_include=["number", "bool"])),
        (categorical, make_column_selector(dtype_exclude=["number", "bool"])),
        verbose_feature_names_out=False,
    )
    return make_pipeline(prep, LogisticRegression(C=C, max_iter=2000, random_state=random_state))


class _PlattScaler:
    """Sigmoid on the booster's raw score: strictly monotone, so ranking and reasons agree."""

    def fit(self, raw: NDArray[np.float64], y: NDArray[np.int64]) -> _PlattScaler:
        self.lr_ = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
        return self

    def predict(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.lr_.predict_proba(raw.reshape(-1, 1))[:, 1]


class ChurnRiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated LightGBM churn risk with per-subscriber reasons.

    Calibration is cross-fitted: out-of-fold raw scores of ``cv`` boosters fit the calibrator
    (sigmoid by default, isotonic on request), then one booster is refit on all rows, so no
    subscriber is lost to a calibration hold-out. The defaults are small, shallow trees:
    churn tables are a few thousand to a few million rows of mostly monotone signals, and
    deeper trees lost to logistic regression on the IBM Telco file.
    """

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.02,
                 num_leaves: int = 7, min_child_samples: int = 100,
                 subsample: float = 0.8, colsample_bytree: float = 0.8,
                 reg_lambda: float = 1.0, calibration: str = "sigmoid", cv: int = 3,
                 random_state: int = 0, n_jobs: int = 1,
                 phrases: Mapping[str, str] | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.phrases = phrases

    def _booster(self) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=self.subsample, subsample_freq=1, colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda, random_state=self.random_state, n_jobs=self.n_jobs,
            verbose=-1)

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Same columns, same category codes as in fit; unseen categories become missing."""
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X), columns=getattr(self, "feature_names_in_", None))
        if hasattr(self, "feature_names_in_"):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise ValueError(f"missing churn features: {missing}")
            X = X[list(self.feature_names_in_)]
        out = X.copy()
        for column, categories in self.categories_.items():
            values = out[column].astype("string").astype(object)
            out[column] = pd.Categorical(values.where(values.isin(categories)),
                                         categories=categories)
        for column in out.columns:
            if column not in self.categories_:
                out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
        return out

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> ChurnRiskModel:
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X), columns=[f"x{i}" for i in range(np.shape(X)[1])])
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categories_ = {
            c: sorted(X[c].dropna().astype(str).unique().tolist())
            for c in _categorical_columns(X)
        }
        data = self._prepare(X)
        raw = np.zeros(len(y))
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        for train, held in folds.split(data, y):
            booster = self._booster().fit(data.iloc[train], y[train])
            raw[held] = booster.predict(data.iloc[held], raw_score=True)
        if self.calibration == "isotonic":
            self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
                raw, y)
        elif self.calibration == "sigmoid":
            self.calibrator_ = _PlattScaler().fit(raw, y)
        else:
            raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', not "
                             f"{self.calibration!r}")
        self.booster_ = self._booster().fit(data, y)
        return self

    def decision_function(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "booster_")
        return self.booster_.predict(self._prepare(X), raw_score=True, num_threads=self.n_jobs)

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        risk = np.clip(self.calibrator_.predict(self.decision_function(X)), 0.0, 1.0)
        return np.column_stack([1 - risk, risk])

    def predict(self, X: pd.DataFrame) -> NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact TreeSHAP contributions to the raw score (log-odds); ``bias`` is the base."""
        check_is_fitted(self, "booster_")
        values = self.booster_.predict(self._prepare(X), pred_contrib=True,
                                       num_threads=self.n_jobs)
        return pd.DataFrame(values, columns=[*self.feature_names_in_, "bias"],
                            index=X.index)

    def reasons(self, X: pd.DataFrame, top: int = 3) -> list[list[dict[str, Any]]]:
        """Per subscriber, up to ``top`` features raising the risk most, in words.

        Every subscriber gets at least one reason: if nothing pushes the risk up, the
        feature holding it up the most (least negative) is given.
        """
        matrix = self.contributions(X).drop(columns="bias").to_numpy()
        values = X[list(self.feature_names_in_)].to_numpy(dtype=object)
        k = min(top, matrix.shape[1])
        order = np.argsort(-matrix, axis=1)[:, :k]  # vectorised; the loop below only formats
        names = list(self.feature_names_in_)
        phrases = self.phrases if self.phrases is not None else PHRASES
        out: list[list[dict[str, Any]]] = []
        for i, picks in enumerate(order.tolist()):
            chosen = [j for j in picks if matrix[i, j] > 0] or picks[:1]
            row = []
            for j in chosen:
                value = values[i, j]
                if isinstance(value, np.generic):
                    value = value.item()
                row.append({"feature": names[j], "value": value,
                            "contribution": float(matrix[i, j]),
                            "text": describe_feature(names[j], value, phrases)})
            out.append(row)
        return out

    def feature_importance(self) -> pd.Series:
        """Total gain per feature, for the report."""
        check_is_fitted(self, "booster_")
        gain = self.booster_.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names_in_).sort_values(ascending=False)
