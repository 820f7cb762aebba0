"""The churn model against what a new user would try first, on the same rows in one run.

Imported by the churn test modules (``pytest.register_assert_rewrite`` keeps the asserts
readable). The search runs without a time budget here, so figures do not depend on how busy
the machine is; the budget has its own test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from insight.churn import ChurnRiskModel, boosting_baselines, logistic_baseline
from insight.evaluation import scores

TOLERANCE = 0.002
"""ROC AUC the searched model may trail the better library default by."""


def split(X: pd.DataFrame, y: ArrayLike, seed: int = 0
          ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """One stratified 80/20 split: train rows, train labels, test rows, test labels."""
    X_train, X_test, y_train, y_test = train_test_split(
        X, np.asarray(y), test_size=0.2, stratify=y, random_state=seed)
    return X_train, y_train, X_test, y_test


def compare(X_train: pd.DataFrame, y_train: np.ndarray, X_test: pd.DataFrame,
            y_test: np.ndarray, groups: ArrayLike | None = None, **params: Any
            ) -> tuple[pd.DataFrame, ChurnRiskModel]:
    """Logistic, both library defaults and the churn model fitted on the same training
    rows; their figures on the test rows."""
    models = {"logistic": logistic_baseline(), **boosting_baselines()}
    rows = {name: scores(y_test, clone(model).fit(X_train, y_train)
                         .predict_proba(X_test)[:, 1]) for name, model in models.items()}
    fitted = ChurnRiskModel(time_budget_s=None, **params).fit(X_train, y_train, groups=groups)
    rows["churn risk model"] = scores(y_test, fitted.predict_proba(X_test)[:, 1])
    return pd.DataFrame(rows).T, fitted


def assert_fits(metrics: pd.DataFrame, model: ChurnRiskModel) -> None:
    """At least the better library default on ranking; at least logistic on all three."""
    print("\n" + metrics[["roc_auc", "pr_auc", "brier", "ece", "n"]].round(4).to_string())
    print(f"chosen: {model.best_params_} after {len(model.cv_results_)} candidates "
          f"({model.search_seconds_:.1f}s)")
    ours = metrics.loc["churn risk model"]
    best_default = metrics.loc[["hgb defaults", "lightgbm defaults"], "roc_auc"].max()
    assert ours["roc_auc"] >= best_default - TOLERANCE
    assert ours["roc_auc"] >= metrics.loc["logistic", "roc_auc"]
    assert ours["pr_auc"] >= metrics.loc["logistic", "pr_auc"]
    assert ours["brier"] <= metrics.loc["logistic", "brier"]
