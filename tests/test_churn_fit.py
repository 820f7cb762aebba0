"""The churn model sizes itself on the data: judged on generated tables against same-run
baselines — scikit-learn's and LightGBM's boosters at their defaults, and logistic regression.

Each table is a seeded generator written here, split once 80/20 (stratified), every model
fitted on the same rows (``churn_fixtures``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

pytest.register_assert_rewrite("churn_fixtures")
from churn_fixtures import assert_fits, compare, split  # noqa: E402

from insight.churn import ChurnRiskModel  # noqa: E402


def _logit_to_label(logit: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Labels with ``logit`` shifted so the positive rate is ``rate`` (bisection)."""
    low, high = -30.0, 30.0
    for _ in range(60):
        shift = (low + high) / 2
        if (1 / (1 + np.exp(-(logit + shift)))).mean() < rate:
            low = shift
        else:
            high = shift
    return (rng.random(logit.size) < 1 / (1 + np.exp(-(logit + shift)))).astype(int)


def interactions(n: int = 8000, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    """Churn driven by interactions and thresholds a linear model cannot draw: usage × price,
    an XOR of two flags, a U-shape, a plan that matters only for heavy users, and noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    X["plan"] = rng.choice(["basic", "plus", "max", "family"], n, p=[0.4, 0.3, 0.2, 0.1])
    X["region"] = rng.choice([f"r{i}" for i in range(6)], n)
    heavy = X["x5"] > 0.5
    logit = (1.4 * X["x0"] * X["x1"]
             + 1.6 * ((X["x2"] > 0) ^ (X["x3"] > 0.3))
             + 0.9 * (X["x4"] ** 2 - 1)
             + np.where(heavy & X["plan"].eq("basic"), 1.5, 0.0)
             - np.where(heavy & X["plan"].eq("max"), 1.2, 0.0)
             + 0.5 * np.sin(3 * X["x6"]))
    return X, _logit_to_label(logit.to_numpy(), 0.25, rng)


def rare_event(n: int = 30000, seed: int = 12) -> tuple[pd.DataFrame, np.ndarray]:
    """2 % positives from signals shaped as churn drivers are: complaints that saturate,
    arrears past a threshold, the first months' risk, prepaid lines with calls going
    off-net, and a price shock only for recent joiners; many noise columns, missing spend."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "complaints_90d": rng.poisson(0.3, n),
        "arrears": rng.exponential(30, n) * (rng.random(n) < 0.3),
        "tenure_months": rng.gamma(2.0, 18.0, n),
        "arpu": rng.lognormal(4.0, 0.5, n),
        "offnet_share": rng.beta(2, 5, n),
        "payment_type": rng.choice(["prepaid", "postpaid"], n, p=[0.35, 0.65]),
        **{f"noise{i}": rng.normal(size=n) for i in range(10)},
    })
    logit = (1.2 * np.minimum(X["complaints_90d"], 2) + 1.3 * (X["arrears"] > 60)
             - 0.6 * np.log1p(X["tenure_months"])
             + 3.0 * X["offnet_share"] * X["payment_type"].eq("prepaid")
             + 1.0 * ((X["arpu"] > 90) & (X["tenure_months"] < 12)))
    X.loc[rng.random(n) < 0.1, "arpu"] = np.nan
    return X, _logit_to_label(logit.to_numpy(), 0.02, rng)


def test_fits_nonlinear_interactions() -> None:
    metrics, model = compare(*split(*interactions()))
    assert_fits(metrics, model)


@pytest.mark.slow
def test_fits_a_rare_event() -> None:
    X, y = rare_event()
    assert y.mean() == pytest.approx(0.02, abs=0.003)
    metrics, model = compare(*split(X, y))
    assert_fits(metrics, model)


def test_groups_keep_a_subscriber_in_one_fold() -> None:
    """A subscriber seen at four cut-offs with a label unrelated to their features: folds
    that split the subscriber let trees memorise them and promise skill that is not there;
    grouped folds see the truth (no skill), so the search stops early and stays simple."""
    rng = np.random.default_rng(5)
    subscribers = 1000
    base = pd.DataFrame({f"x{i}": rng.normal(size=subscribers) for i in range(6)})
    label = (rng.random(subscribers) < 0.2).astype(int)
    X = pd.concat([base] * 4, ignore_index=True)
    y = np.tile(label, 4)
    groups = np.tile(np.arange(subscribers), 4)
    model = ChurnRiskModel(n_estimators=150, time_budget_s=None)  # memorising is slow
    naive = clone(model).fit(X, y)
    grouped = clone(model).fit(X, y, groups=groups)
    print(f"\nout-of-fold AUC: ungrouped {naive.best_score_['cv_roc_auc']:.3f}, grouped "
          f"{grouped.best_score_['cv_roc_auc']:.3f}; trees {naive.best_params_} vs "
          f"{grouped.best_params_}")
    assert naive.best_score_["cv_roc_auc"] > 0.7
    assert grouped.best_score_["cv_roc_auc"] < 0.56
    assert grouped.best_params_["n_estimators"] < naive.best_params_["n_estimators"]


def test_search_records_and_respects_fixed_values_and_budget() -> None:
    X, y = interactions(n=3000, seed=3)
    model = ChurnRiskModel(num_leaves=7, time_budget_s=None).fit(X, y)
    results = pd.DataFrame(model.cv_results_)
    assert (results["num_leaves"] == 7).all() and model.best_params_["num_leaves"] == 7
    assert set(results["stage"]) == {"shape", "regularisation", "learning rate"}
    best = results.loc[results["cv_log_loss"].idxmin()]
    assert model.best_params_["n_estimators"] == best["n_estimators"]
    assert model.booster_.n_estimators == best["n_estimators"]
    assert model.search_complete_ and model.search_summary()["candidates"] == len(results)
    # No budget left after the first candidate: that one is the model, and it says so.
    hurried = ChurnRiskModel(time_budget_s=0).fit(X, y)
    assert len(hurried.cv_results_) == 1 and not hurried.search_complete_
    risk = hurried.predict_proba(X)[:, 1]
    assert np.all((risk > 0) & (risk < 1))
    contributions = hurried.contributions(X.head(50))
    assert np.allclose(contributions.sum(axis=1), hurried.decision_function(X.head(50)))


def _periods(shift: bool, n: int = 3000, months: int = 4, seed: int = 5
             ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Monthly rows with two call-graph columns beside plain ones. Churn follows
    ``arrears``; ``strength`` follows it too in every month, or (``shift``) only until the
    last month, when it stops meaning anything: a group a random fold cannot judge."""
    rng = np.random.default_rng(seed)
    frames, labels, periods = [], [], []
    for month in range(months):
        X = pd.DataFrame({"arrears": rng.normal(size=n), "tenure_months": rng.normal(size=n),
                          "strength": rng.normal(size=n), "degree": rng.normal(size=n)})
        y = _logit_to_label(1.5 * X["arrears"].to_numpy(), 0.1, rng)
        if not (shift and month == months - 1):
            X["strength"] += 1.5 * y  # leavers' ties are weaker
        frames.append(X)
        labels.append(y)
        periods.append(np.full(n, month))
    return pd.concat(frames, ignore_index=True), np.concatenate(labels), np.concatenate(periods)


@pytest.mark.parametrize("shift", [False, True])
def test_a_feature_group_that_does_not_hold_over_time_is_left_out(shift: bool) -> None:
    X, y, periods = _periods(shift)
    model = ChurnRiskModel(time_budget_s=None).fit(X, y, periods=periods)
    choice = {r["features"]: r for r in model.search_summary()["feature_choice"]}
    assert set(choice) == {"all", "without graph"}
    assert model.dropped_groups_ == (["graph"] if shift else [])
    assert (choice["without graph"]["log_loss"] < choice["all"]["log_loss"]) == shift
    if shift:  # the left-out columns neither score nor explain
        assert list(model.features_used_) == ["arrears", "tenure_months"]
        assert (model.contributions(X.head(50))[["strength", "degree"]] == 0).all().all()
        changed = X.head(50).assign(strength=0.0, degree=0.0)
        assert np.allclose(model.predict_proba(changed), model.predict_proba(X.head(50)))
    # without periods, nothing is chosen
    plain = ChurnRiskModel(time_budget_s=None).fit(X, y)
    assert plain.feature_choice_ == [] and list(plain.features_used_) == list(X.columns)
