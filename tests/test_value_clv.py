"""BG/NBD and Gamma-Gamma against Fader, Hardie & Lee (2005) on the CDNOW summary data."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from insight.clv import BetaGeoModel, GammaGammaModel, prepaid_lifetime_value


def _cdnow(name: str) -> pd.DataFrame:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or spec.origin is None:
        pytest.skip("lifetimes (CDNOW data files) not installed")
    return pd.read_csv(Path(spec.origin).parent / "datasets" / name)


@pytest.fixture(scope="module")
def bgnbd() -> tuple[BetaGeoModel, pd.DataFrame]:
    summary = _cdnow("cdnow_customers_summary.csv")
    return BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"]), summary


@pytest.fixture(scope="module")
def gamma_gamma() -> tuple[GammaGammaModel, pd.DataFrame]:
    summary = _cdnow("cdnow_customers_summary_with_transactions.csv")
    return GammaGammaModel().fit(summary["x"], summary["zbar"]), summary


def test_bgnbd_matches_published_parameters(bgnbd: tuple[BetaGeoModel, pd.DataFrame]) -> None:
    model, _ = bgnbd
    published = {"r_": 0.243, "alpha_": 4.414, "a_": 0.793, "b_": 2.426}
    for name, value in published.items():
        assert getattr(model, name) == pytest.approx(value, rel=0.01), name
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.5)


def test_gamma_gamma_matches_published_parameters(
        gamma_gamma: tuple[GammaGammaModel, pd.DataFrame]) -> None:
    model, _ = gamma_gamma
    assert model.p_ == pytest.approx(6.25, rel=0.01)
    assert model.q_ == pytest.approx(3.74, rel=0.01)
    assert model.v_ == pytest.approx(15.44, rel=0.01)


def test_bgnbd_predictions_are_consistent(bgnbd: tuple[BetaGeoModel, pd.DataFrame]) -> None:
    model, summary = bgnbd
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    alive = model.probability_alive(x, t_x, big_t)
    assert np.all((alive > 0) & (alive <= 1))
    assert np.all(alive[x == 0] == 1)
    # More recent activity, same frequency: more likely alive and more purchases ahead.
    recent, stale = model.predict_purchases(10, [3, 3], [35, 5], [38, 38])
    assert recent > stale
    # The fitted model reproduces the calibration period: expected repeat purchases over each
    # customer's own window add up to the observed total (within 2%).
    expected = model.expected_purchases(big_t.to_numpy()).sum()
    assert expected == pytest.approx(x.sum(), rel=0.02)


def test_prepaid_lifetime_value_orders_subscribers(
        bgnbd: tuple[BetaGeoModel, pd.DataFrame],
        gamma_gamma: tuple[GammaGammaModel, pd.DataFrame]) -> None:
    model, _ = bgnbd
    gg, _ = gamma_gamma
    clv = prepaid_lifetime_value(model, gg, [0, 4, 4], [0, 37, 2], [38, 38, 38], [0, 20, 20],
                                 months=12, units_per_month=52 / 12)
    assert np.all(clv >= 0)
    assert clv[1] > clv[2] > 0  # active heavy buyer beats one gone quiet
    undiscounted = prepaid_lifetime_value(model, gg, [4], [37], [38], [20], months=12,
                                          units_per_month=52 / 12, monthly_discount=0.0)
    assert undiscounted[0] > clv[1]


def test_bgnbd_forecasts_match_the_textbook_formula_and_stay_finite(
        bgnbd: tuple[BetaGeoModel, pd.DataFrame]) -> None:
    """Equal to Fader, Hardie & Lee's eq. (10) where it can be evaluated; finite, without a
    floating-point warning, and rising with frequency for heavy users active to the end,
    where it cannot."""
    model, summary = bgnbd
    r, alpha, a, b = model.params_
    x, t_x, big_t = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    t = 39.0
    textbook = ((a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t))
                                             ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1,
                                                                 t / (alpha + big_t + t)))
                / (1 + np.where(x > 0, a / (b + x - 1)
                                * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0)))
    assert model.predict_purchases(t, x, t_x, big_t) == pytest.approx(textbook, rel=1e-9)
    heavy = np.array([100.0, 500.0, 2000.0, 10000.0])
    with np.errstate(over="ignore", invalid="ignore"):
        textbook_heavy = np.exp((r + heavy) * np.log(0.5)) * hyp2f1(
            r + heavy, b + heavy, a + b + heavy - 1, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecast = model.predict_purchases(365.0, heavy, [365.0] * 4, [365.0] * 4)
    assert not np.all(np.isfinite(textbook_heavy) & (textbook_heavy > 0))
    assert np.all(np.isfinite(forecast)) and np.all(np.diff(forecast) > 0)


def test_bgnbd_forecasts_are_finite_when_a_fit_drives_a_and_b_to_zero() -> None:
    """Short histories where nobody was seen leaving fit a ≈ b ≈ 0: one repeat purchase then
    sits on 2F1's pole, and the forecast is its finite limit."""
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_ = 1.0366, 13.117, 2.1e-18, 1.1e-16
    x, t_x, big_t = np.array([0.0, 1.0, 1.0, 4.0]), np.array([0.0, 60.0, 100.0, 90.0]), 120.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecast = model.predict_purchases(30.4, x, t_x, [big_t] * 4)
    assert np.all(np.isfinite(forecast)) and np.all(forecast > 0)
    # the limit at one repeat purchase, from 2F1 with its third parameter at 1e-12 instead
    r, alpha, a, b = model.params_
    z = 30.4 / (alpha + big_t + 30.4)
    c = 1e-12
    limit = c / (a - 1) * (1 - (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z))
    alive = model.probability_alive(1, 60, big_t)[0]
    assert forecast[1] / alive == pytest.approx(limit, rel=1e-8)
