"""Churn risk: a calibrated gradient-boosted model with reasons, and its logistic baseline.

The retention team asks "whom do we call this week, and why?". ``ChurnRiskModel`` answers
the first with a calibrated probability (so expected losses add up) and the second with
``reasons``: the features pushing each subscriber's risk up, from LightGBM's exact TreeSHAP
contributions (``pred_contrib=True``), turned into phrases an agent can read.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from graph.catalogue import FEATURES, TOPICS, feature_label, load_reasons, reason_texts
from graph.locales import DEFAULT_LOCALE, format_money, normalize, translator

__all__ = ["PHRASES", "ChurnRiskModel", "boosting_baselines", "describe_feature",
           "logistic_baseline", "reasons_in"]

_YUAN = "¥{v:.0f}"
"""How a phrase writes money; outside English it is written by ``format_money`` (¥1.2万)."""

# Feature → phrase an agent reads, from the feature catalogue. ``{v}`` is the subscriber's
# value, in str.format syntax. Features without a phrase read "<feature words>: <value>".
PHRASES: dict[str, str] = {
    f.name: f.phrase for f in FEATURES.values() if f.phrase is not None}


def describe_feature(name: str, value: Any, phrases: Mapping[str, str] | None = None,
                     locale: str | None = None) -> str:
    """One feature value in words, from the phrase table, else its name (in English as the
    column reads, in another locale its display name, ``graph.catalogue.feature_label``).

    ``locale`` (``graph.locales.LOCALES``; English by default) picks the language: a phrase
    is the msgid of its translation in the locale's catalog, and its money (``¥{v:.0f}``)
    reads as the locale writes yuan (``欠费¥1.2万`` in zh-CN).
    """
    locale = normalize(locale)
    _ = translator(locale).gettext
    template = (phrases or PHRASES).get(name)
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if template is not None and not missing:
        try:
            text = _(template)
            if locale != DEFAULT_LOCALE and _YUAN in text:
                money = format_money(float(value), locale).replace("{", "{{").replace("}", "}}")
                text = text.replace(_YUAN, money)
            return text.format(v=value)
        except (ValueError, TypeError):
            pass
    if locale == DEFAULT_LOCALE:  # as English reasons were always stored
        words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").strip().lower()
        colon = ": "
    else:  # the feature's display name (夜间通信占比：0.2)
        words, colon = feature_label(name, locale), "："
    if missing:
        return f"{words}{colon}{_('unknown')}"
    if isinstance(value, float | np.floating):
        return f"{words}{colon}{value:.3g}"
    return f"{words}{colon}{value}"


def reasons_in(stored: object, locale: str | None = None) -> list[str]:
    """A line's stored reasons (``churn_scores.reasons``) read in ``locale``: in English as
    stored, otherwise re-worded from each reason's feature and value."""
    locale = normalize(locale)
    if locale == DEFAULT_LOCALE:
        return reason_texts(stored)
    return [describe_feature(r["feature"], r.get("value"), locale=locale)
            for r in load_reasons(stored)]


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


class _AsCategories(TransformerMixin, BaseEstimator):
    """Text columns as pandas categoricals with the training categories, which is how
    HistGradientBoosting and LightGBM take categoricals natively."""

    def fit(self, X: pd.DataFrame, y: ArrayLike | None = None) -> _AsCategories:
        self.categories_ = {c: sorted(X[c].dropna().astype(str).unique().tolist())
                            for c in _categorical_columns(X)}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        for column, categories in self.categories_.items():
            values = out[column].astype("string").astype(object)
            out[column] = pd.Categorical(values.where(values.isin(categories)),
                                         categories=categories)
        return out


def boosting_baselines(random_state: int = 0) -> dict[str, Pipeline]:
    """What a new user would try first: scikit-learn's and LightGBM's boosters, defaults."""
    return {
        "hgb defaults": make_pipeline(
            _AsCategories(), HistGradientBoostingClassifier(random_state=random_state)),
        "lightgbm defaults": make_pipeline(
            _AsCategories(), lgb.LGBMClassifier(random_state=random_state, verbose=-1)),
    }


SEARCHED = ("learning_rate", "num_leaves", "min_child_samples", "reg_lambda")
START = {"learning_rate": 0.2, "num_leaves": 15, "min_child_samples": 20, "reg_lambda": 1.0}
"""Where the search starts. Shapes and regularisation are compared at this (coarse, cheap)
learning rate; the winner is then grown again in steps a quarter of the size."""
SHAPES = ((15, 20), (4, 50), (31, 20), (7, 100), (2, 20))
"""(leaves, minimum rows a leaf), most likely first: moderate, shallow, LightGBM's default,
the old fixed setting, and stumps (an additive model) for near-linear tables."""
STAGES = ("shape", "regularisation", "learning rate")
OPTIONAL_GROUPS = ("graph",)
"""Catalogue groups (``graph.catalogue``) the model may leave out, when the last period of
its training rows says it predicts better without them."""


class _PlattScaler:
    """Sigmoid on the booster's raw score: strictly monotone, so ranking and reasons agree."""

    def fit(self, raw: NDArray[np.float64], y: NDArray[np.int64]) -> _PlattScaler:
        self.lr_ = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
        return self

    def predict(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.lr_.predict_proba(raw.reshape(-1, 1))[:, 1]


class ChurnRiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated LightGBM churn risk with per-subscriber reasons, sized on the data.

    One operator's best trees underfit another's, so ``fit`` chooses the capacity on the
    operator's own rows: a small coarse-to-fine search (tree shape, then regularisation,
    then a lower learning rate) over ``cv`` internal folds — grouped by subscriber when
    ``groups`` is given, so a subscriber seen at several cut-offs never judges itself —
    each candidate grown until its mean out-of-fold log loss stops improving (early
    stopping picks the number of trees). Candidates run most likely first and the search
    stops before one would overrun ``time_budget_s``; a hyper-parameter given a value is
    fixed and not searched. The chosen setting is in ``best_params_``, every candidate's
    out-of-fold figures in ``cv_results_``.

    Calibration is cross-fitted: the winning candidate's fold boosters give out-of-fold raw
    scores that fit the calibrator (sigmoid by default, isotonic on request); one booster is
    then refit on all rows, so no subscriber is lost to a calibration hold-out.

    Given ``periods`` (each row's cut-off), the model also chooses its columns over time:
    the search runs once per column set — all columns, and all but each group of
    ``optional_groups`` (the call-graph group by default) — in an equal share of
    ``time_budget_s``; each set, with its own chosen setting, is trained on every period but
    the last and judged on the last (log loss, early stopping there). Random folds cannot
    see a group that fits something the next month does not keep; the next month can. A
    group left out (``dropped_groups_``) is left out of calibration and the final booster,
    and its columns push no reasons. The comparison is in ``feature_choice_``.
    """

    def __init__(self, n_estimators: int = 2000, learning_rate: float | None = None,
                 num_leaves: int | None = None, min_child_samples: int | None = None,
                 subsample: float = 0.8, colsample_bytree: float = 0.8,
                 reg_lambda: float | None = None, early_stopping_rounds: int = 20,
                 time_budget_s: float | None = 30.0, calibration: str = "sigmoid",
                 cv: int = 3, random_state: int = 0, n_jobs: int = 1,
                 optional_groups: tuple[str, ...] = OPTIONAL_GROUPS,
                 phrases: Mapping[str, str] | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.time_budget_s = time_budget_s
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.optional_groups = optional_groups
        self.phrases = phrases

    def _candidates(self, stage: str, best: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The search's candidates for one stage, around ``best``; fixed values win."""
        fixed = {k: getattr(self, k) for k in SEARCHED if getattr(self, k) is not None}
        if stage == "shape":
            trials = [{"num_leaves": leaves, "min_child_samples": rows}
                      for leaves, rows in SHAPES]
        elif stage == "regularisation":
            rows = best["min_child_samples"]
            trials = [{"reg_lambda": 0.0}, {"reg_lambda": 10.0},
                      {"min_child_samples": max(2, rows // 2)}]
        else:
            trials = [{"learning_rate": best["learning_rate"] / 4}]
        return [{**best, **trial, **fixed} for trial in trials]

    def _params(self, candidate: Mapping[str, Any]) -> dict[str, Any]:
        """A candidate in LightGBM's native names, as ``lgb.cv`` takes them."""
        return {"objective": "binary", "metric": "binary_logloss",
                "learning_rate": candidate["learning_rate"],
                "num_leaves": candidate["num_leaves"],
                "min_data_in_leaf": candidate["min_child_samples"],
                "lambda_l2": candidate["reg_lambda"],
                "bagging_fraction": self.subsample, "bagging_freq": 1,
                "feature_fraction": self.colsample_bytree, "seed": self.random_state,
                "deterministic": True, "num_threads": self.n_jobs, "verbose": -1}

    def _booster(self, params: Mapping[str, Any], n_estimators: int) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            n_estimators=n_estimators, learning_rate=params["learning_rate"],
            num_leaves=params["num_leaves"], min_child_samples=params["min_child_samples"],
            subsample=self.subsample, subsample_freq=1, colsample_bytree=self.colsample_bytree,
            reg_lambda=params["reg_lambda"], random_state=self.random_state,
            deterministic=True, n_jobs=self.n_jobs, verbose=-1)

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

    def _folds(self, y: NDArray[np.int64], groups: ArrayLike | None
               ) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
        if groups is None:
            splitter = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            return list(splitter.split(np.zeros(len(y)), y))
        grouped = StratifiedGroupKFold(self.cv, shuffle=True, random_state=self.random_state)
        return list(grouped.split(np.zeros(len(y)), y, groups=np.asarray(groups)))

    def _evaluate(self, candidate: dict[str, Any], dataset: lgb.Dataset, data: pd.DataFrame,
                  y: NDArray[np.int64], folds: list[tuple[NDArray[np.int64], NDArray[np.int64]]]
                  ) -> tuple[dict[str, Any], NDArray[np.float64]]:
        """One candidate: mean out-of-fold log loss per tree, stopped when it stops falling;
        its figures at the best number of trees, and its out-of-fold raw scores there."""
        started = time.perf_counter()
        # Patience in trees at learning rate 0.1; smaller steps need proportionally more.
        patience = max(1, round(self.early_stopping_rounds * 0.1 / candidate["learning_rate"]))
        result = lgb.cv(self._params(candidate), dataset, num_boost_round=self.n_estimators,
                        folds=folds, return_cvbooster=True,
                        callbacks=[lgb.early_stopping(patience, verbose=False)])
        cvbooster = result["cvbooster"]
        trees = max(1, int(cvbooster.best_iteration))
        raw = np.zeros(len(y))
        for booster, (_, held) in zip(cvbooster.boosters, folds, strict=True):
            raw[held] = booster.predict(data.iloc[held], raw_score=True, num_iteration=trees,
                                        num_threads=self.n_jobs)
        record = {**candidate, "n_estimators": trees,
                  "cv_log_loss": float(result["valid binary_logloss-mean"][trees - 1]),
                  "cv_log_loss_std": float(result["valid binary_logloss-stdv"][trees - 1]),
                  "cv_roc_auc": float(roc_auc_score(y, raw)),
                  "cv_pr_auc": float(average_precision_score(y, raw)),
                  "seconds": round(time.perf_counter() - started, 3)}
        return record, raw

    def _column_sets(self, columns: list[str], y: NDArray[np.int64],
                     periods: ArrayLike | None) -> dict[str, list[str]]:
        """All columns, and all but each optional group present, when the last period can
        judge them (both classes in it and before it)."""
        sets = {"all": columns}
        if periods is None:
            return sets
        periods = np.asarray(periods)
        held = periods == np.unique(periods)[-1]
        if held.all() or len(np.unique(y[held])) < 2 or len(np.unique(y[~held])) < 2:
            return sets
        for name in self.optional_groups:
            dropped = {c for c in columns if c in FEATURES and FEATURES[c].group == name}
            if dropped and len(dropped) < len(columns):
                sets[f"without {name}"] = [c for c in columns if c not in dropped]
        return sets

    def _last_period(self, data: pd.DataFrame, y: NDArray[np.int64], periods: ArrayLike,
                     name: str, best: Mapping[str, Any]) -> dict[str, Any]:
        """One column set with its own searched setting, trained on every period but the
        last and judged on the last (log loss at its early-stopped number of trees)."""
        periods = np.asarray(periods)
        last = np.unique(periods)[-1]
        held = periods == last
        patience = max(1, round(self.early_stopping_rounds * 0.1 / best["learning_rate"]))
        # Same dataset parameters on both sides, or LightGBM warns that it overrides them.
        shared = {"feature_pre_filter": False, "verbose": -1}
        train = lgb.Dataset(data[~held], label=y[~held], params=shared)
        valid = lgb.Dataset(data[held], label=y[held], reference=train, params=dict(shared))
        booster = lgb.train(self._params(best), train, num_boost_round=self.n_estimators,
                            valid_sets=[valid], valid_names=["last period"],
                            callbacks=[lgb.early_stopping(patience, verbose=False)])
        trees = max(1, int(booster.best_iteration))
        raw = booster.predict(data[held], raw_score=True, num_iteration=trees,
                              num_threads=self.n_jobs)
        return {"features": name, "columns": data.shape[1], "last_period": str(last),
                "n_estimators": trees, "cv_log_loss": best["cv_log_loss"],
                "log_loss": float(booster.best_score["last period"]["binary_logloss"]),
                "roc_auc": float(roc_auc_score(y[held], raw))}

    def _search(self, data: pd.DataFrame, y: NDArray[np.int64],
                folds: list[tuple[NDArray[np.int64], NDArray[np.int64]]], budget: float
                ) -> tuple[dict[str, Any], NDArray[np.float64], list[dict[str, Any]], bool]:
        """The capacity search on these columns within ``budget`` seconds: the best
        candidate, its out-of-fold raw scores, every candidate's figures, and whether the
        time budget stopped it."""
        started = time.perf_counter()
        dataset = lgb.Dataset(data, label=y, free_raw_data=False,
                              params={"feature_pre_filter": False, "verbose": -1})
        best: dict[str, Any] = {**START, **{k: getattr(self, k) for k in SEARCHED
                                            if getattr(self, k) is not None}}
        results: list[dict[str, Any]] = []
        best_record: dict[str, Any] | None = None
        best_raw = np.zeros(len(y))
        seen: set[tuple[Any, ...]] = set()
        stopped = False
        for stage in STAGES:
            for candidate in self._candidates(stage, best):
                key = tuple(candidate[k] for k in SEARCHED)
                if key in seen:
                    continue
                # A candidate costs about what the last did, more at a lower learning rate.
                guess = (results[-1]["seconds"] * results[-1]["learning_rate"]
                         / candidate["learning_rate"]) if results else 0.0
                if best_record is not None and time.perf_counter() - started + guess > budget:
                    stopped = True
                    break
                seen.add(key)
                record, raw = self._evaluate(candidate, dataset, data, y, folds)
                record["stage"] = stage
                results.append(record)
                if best_record is None or record["cv_log_loss"] < best_record["cv_log_loss"]:
                    best_record, best_raw = record, raw
            if stopped or best_record is None:
                break
            best = {k: best_record[k] for k in SEARCHED}
        assert best_record is not None
        return best_record, best_raw, results, stopped

    def fit(self, X: pd.DataFrame, y: ArrayLike, groups: ArrayLike | None = None,
            periods: ArrayLike | None = None) -> ChurnRiskModel:
        """Search, choose the columns over time, calibrate on out-of-fold scores, refit on
        all rows.

        ``groups`` (e.g. subscription ids when rows are several cut-offs of the same
        subscribers) keeps each subscriber's rows in one internal fold. ``periods`` (the
        rows' cut-offs) lets the model leave out an optional feature group that does not
        hold up in the last period.
        """
        if self.calibration not in ("sigmoid", "isotonic"):
            raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', not "
                             f"{self.calibration!r}")
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
        folds = self._folds(y, groups)
        started = time.perf_counter()
        sets = self._column_sets(list(data.columns), y, periods)
        # Each column set gets an equal share of the time budget, so neither wins by being
        # searched further.
        budget = (math.inf if self.time_budget_s is None
                  else float(self.time_budget_s) / len(sets))
        searched = {name: self._search(data[kept], y, folds, budget)
                    for name, kept in sets.items()}
        self.feature_choice_ = [] if len(sets) == 1 else [
            self._last_period(data[sets[name]], y, periods, name, found[0])
            for name, found in searched.items()]
        # ties keep all columns
        chosen = (min(self.feature_choice_, key=lambda r: r["log_loss"])["features"]
                  if self.feature_choice_ else "all")
        best_record, best_raw, results, stopped = searched[chosen]
        self.features_used_ = np.asarray(sets[chosen], dtype=object)
        self.dropped_groups_ = [] if chosen == "all" else [chosen.removeprefix("without ")]
        data = data[sets[chosen]]
        best = {k: best_record[k] for k in SEARCHED}
        self.best_params_ = {**best, "n_estimators": best_record["n_estimators"]}
        self.best_score_ = {k: best_record[k] for k in
                            ("cv_log_loss", "cv_log_loss_std", "cv_roc_auc", "cv_pr_auc")}
        self.cv_results_ = results
        self.search_complete_ = not stopped
        self.search_seconds_ = round(time.perf_counter() - started, 3)
        if self.calibration == "isotonic":
            self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
                best_raw, y)
        else:
            self.calibrator_ = _PlattScaler().fit(best_raw, y)
        self.booster_ = self._booster(best, best_record["n_estimators"]).fit(data, y)
        return self

    def search_summary(self) -> dict[str, Any]:
        """What the search chose and how each candidate did, for metadata and reports."""
        check_is_fitted(self, "best_params_")
        return {"best_params": self.best_params_, "best_score": self.best_score_,
                "folds": self.cv, "candidates": len(self.cv_results_),
                "complete": self.search_complete_, "seconds": self.search_seconds_,
                "cv_results": self.cv_results_,
                "dropped_groups": getattr(self, "dropped_groups_", []),
                "feature_choice": getattr(self, "feature_choice_", [])}

    def decision_function(self, X: pd.DataFrame) -> NDArray[np.float64]:
        check_is_fitted(self, "booster_")
        return self.booster_.predict(self._used(X), raw_score=True, num_threads=self.n_jobs)

    def _used(self, X: pd.DataFrame) -> pd.DataFrame:
        """Prepared rows, in the columns the booster was fitted on."""
        data = self._prepare(X)
        used = getattr(self, "features_used_", None)
        return data if used is None else data[list(used)]

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        risk = np.clip(self.calibrator_.predict(self.decision_function(X)), 0.0, 1.0)
        return np.column_stack([1 - risk, risk])

    def predict(self, X: pd.DataFrame) -> NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact TreeSHAP contributions to the raw score (log-odds); ``bias`` is the base."""
        check_is_fitted(self, "booster_")
        used = list(getattr(self, "features_used_", self.feature_names_in_))
        values = self.booster_.predict(self._used(X), pred_contrib=True,
                                       num_threads=self.n_jobs)
        # A column left out pushes nothing.
        return pd.DataFrame(values, columns=[*used, "bias"], index=X.index).reindex(
            columns=[*self.feature_names_in_, "bias"], fill_value=0.0)

    def reasons(self, X: pd.DataFrame, top: int = 3, locale: str | None = None
                ) -> list[list[dict[str, Any]]]:
        """Per subscriber, up to ``top`` causes raising the risk most, in words.

        A cause is a topic of the catalogue (``graph.catalogue.TOPICS``): features that say
        the same thing (the contacts who left, counted, weighted and dated) push together,
        as the sum of their exact TreeSHAP contributions, and read as the phrase of the one
        pushing most. Split over correlated columns, a strong cause would otherwise rank
        below a single weaker one, or fill every slot with the same story.
        ``contribution`` is the topic's sum; ``feature`` and ``value`` its leading feature's.
        The words are in ``locale`` (English by default, see ``describe_feature``).

        Every subscriber gets at least one reason: if nothing pushes the risk up, the
        cause holding it up the most (least negative) is given.
        """
        matrix = self.contributions(X).drop(columns="bias").to_numpy()
        values = X[list(self.feature_names_in_)].to_numpy(dtype=object)
        names = list(self.feature_names_in_)
        _, topic = np.unique([TOPICS.get(name, name) for name in names], return_inverse=True)
        members = np.zeros((len(names), topic.max() + 1))
        members[np.arange(len(names)), topic] = 1.0
        pushed = matrix @ members  # per subscriber and topic: the summed contributions
        lead = np.empty(pushed.shape, dtype=np.int64)  # the feature pushing most per topic
        for t in range(pushed.shape[1]):
            columns = np.flatnonzero(topic == t)
            lead[:, t] = columns[np.argmax(matrix[:, columns], axis=1)]
        k = min(top, pushed.shape[1])
        order = np.argsort(-pushed, axis=1)[:, :k]  # vectorised; the loop below only formats
        phrases = self.phrases if self.phrases is not None else PHRASES
        out: list[list[dict[str, Any]]] = []
        for i, picks in enumerate(order.tolist()):
            chosen = [t for t in picks if pushed[i, t] > 0] or picks[:1]
            row = []
            for t in chosen:
                j = int(lead[i, t])
                value = values[i, j]
                if isinstance(value, np.generic):
                    value = value.item()
                row.append({"feature": names[j], "value": value,
                            "contribution": float(pushed[i, t]),
                            "text": describe_feature(names[j], value, phrases, locale)})
            out.append(row)
        return out

    def feature_importance(self) -> pd.Series:
        """Total gain per feature, for the report."""
        check_is_fitted(self, "booster_")
        gain = self.booster_.booster_.feature_importance(importance_type="gain")
        used = list(getattr(self, "features_used_", self.feature_names_in_))
        return pd.Series(gain, index=used).reindex(self.feature_names_in_, fill_value=0.0
                                                   ).sort_values(ascending=False)
