"""Evaluation figures on cases worked out by hand, and the churn model's conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from insight.churn import ChurnRiskModel, describe_feature
from insight.evaluation import (
    calibration_table,
    expected_calibration_error,
    lift_table,
    lift_top_decile,
    scores,
    time_split,
)


def test_lift_and_capture() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 10)  # 20% churn
    risk = np.where(y == 1, 0.9, 0.1) + np.linspace(0, 0.01, y.size)
    assert lift_top_decile(y, risk) == pytest.approx(5.0)  # top 10% all churners: 1 / 0.2
    table = lift_table(y, risk)
    assert table["captured"].iloc[1] == pytest.approx(1.0)
    assert table["lift"].iloc[0] == pytest.approx(5.0)
    assert lift_top_decile(y, np.zeros(y.size) + 0.5) == pytest.approx(1.0, abs=1.0)


def test_calibration_error() -> None:
    rng = np.random.default_rng(0)
    risk = rng.uniform(0, 0.5, 20_000)
    y = (rng.random(risk.size) < risk).astype(int)
    assert expected_calibration_error(y, risk) < 0.01  # calibrated by construction
    assert expected_calibration_error(y, risk / 2) == pytest.approx(risk.mean() / 2, abs=0.01)
    table = calibration_table(y, risk, bins=5)
    assert len(table) == 5 and table["n"].sum() == risk.size
    figures = scores(y, risk)
    assert set(figures) >= {"roc_auc", "pr_auc", "lift_top_decile", "brier", "ece"}


def _toy(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"complaints_30d": rng.poisson(0.5, n), "arrears": rng.exponential(50, n),
                      "payment_type": rng.choice(["prepaid", "postpaid"], n),
                      "noise": rng.normal(size=n)})
    logit = -3 + 0.9 * X["complaints_30d"] + 0.01 * X["arrears"] + (X["payment_type"] ==
                                                                     "prepaid")
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()


def test_churn_model_conventions_and_reasons() -> None:
    X, y = _toy(3000, 1)
    model = ChurnRiskModel(n_estimators=100, learning_rate=0.05, min_child_samples=30)
    assert clone(model).get_params() == model.get_params()
    fitted = model.fit(X, y)
    assert list(fitted.feature_names_in_) == list(X.columns)
    assert fitted.categories_ == {"payment_type": ["postpaid", "prepaid"]}
    # Columns in another order and an unseen category are handled.
    shuffled = X[X.columns[::-1]].copy()
    shuffled.loc[0, "payment_type"] = "hybrid"
    risk = fitted.predict_proba(shuffled)[:, 1]
    assert risk.shape == (len(X),) and np.all((risk >= 0) & (risk <= 1))
    reasons = fitted.reasons(X.head(200))
    assert all(r for r in reasons)
    top = pd.Series([r[0]["feature"] for r in reasons]).value_counts()
    assert "noise" not in top.index[:1]
    assert any("complaints in 30 days" in item["text"] for r in reasons for item in r)
    with pytest.raises(ValueError, match="missing churn features"):
        fitted.predict_proba(X.drop(columns="arrears"))


def test_reasons_tell_one_cause_once_with_its_summed_push() -> None:
    """Contacts who left, counted, weighted and dated, are one reason: its contribution is
    the sum of those columns' exact TreeSHAP values; other features stay reasons of their
    own, so a cause split over three columns still ranks by its whole push."""
    rng = np.random.default_rng(4)
    n = 4000
    left = rng.random(n) < 0.15
    X = pd.DataFrame({"churned_neighbours": left * rng.integers(1, 4, n),
                      "churned_tie_share": left * rng.uniform(0.05, 0.6, n),
                      "days_since_contact_left": np.where(left, rng.integers(1, 90, n), np.nan),
                      "arrears": rng.exponential(50, n), "noise": rng.normal(size=n)})
    logit = -3.5 + 2.2 * left + 0.012 * X["arrears"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = ChurnRiskModel(n_estimators=150, learning_rate=0.1, num_leaves=4,
                           min_child_samples=30, reg_lambda=1.0).fit(X, y)
    head = X.head(300)
    contributions = model.contributions(head)
    friends = ["churned_neighbours", "churned_tie_share", "days_since_contact_left"]
    for i, reasons in enumerate(model.reasons(head, top=3)):
        topics = ["friends" if r["feature"] in friends else r["feature"] for r in reasons]
        assert len(topics) == len(set(topics))  # a cause is told once
        for reason in reasons:
            columns = friends if reason["feature"] in friends else [reason["feature"]]
            assert reason["contribution"] == pytest.approx(
                contributions.iloc[i][columns].sum())
            if reason["feature"] in friends:  # worded by the column pushing most
                assert contributions.iloc[i][reason["feature"]] == pytest.approx(
                    contributions.iloc[i][friends].max())
    told = [r[0]["feature"] for r, gone in zip(model.reasons(head), left[:300], strict=True)
            if gone]
    assert np.mean([f in friends for f in told]) > 0.5


def test_scoring_threads_change_speed_not_scores() -> None:
    """``callcircle score --threads`` sets ``n_jobs`` on the fitted model before scoring."""
    X, y = _toy(4000, 2)
    model = ChurnRiskModel(n_estimators=60, min_child_samples=30).fit(X, y)
    one = model.predict_proba(X)[:, 1], model.contributions(X).to_numpy()
    model.set_params(n_jobs=2)
    two = model.predict_proba(X)[:, 1], model.contributions(X).to_numpy()
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    assert model.booster_.n_jobs == 1  # the booster keeps its training setting


def test_time_split_uses_only_earlier_cutoffs() -> None:
    frames = {c: _toy(800, c) for c in (1, 2, 3)}
    result = time_split(frames, {"boosted": ChurnRiskModel(n_estimators=50)},
                        feature_sets={"all": ["complaints_30d", "arrears", "payment_type"],
                                      "no arrears": ["complaints_30d", "payment_type"]})
    assert result["train_cutoffs"] == [1, 2] and result["test_cutoff"] == 3
    assert len(result["metrics"]) == 2 and (result["metrics"]["n"] == 800).all()


def test_describe_feature_fallbacks() -> None:
    assert describe_feature("arrears", 120.4) == "arrears of ¥120"
    assert describe_feature("someNewFeature", 0.12345) == "some new feature: 0.123"
    assert describe_feature("arrears", float("nan")) == "arrears: unknown"
