"""Lifetime value for prepaid (non-contractual) subscribers: BG/NBD and Gamma-Gamma.

A prepaid subscriber never tells us they left: they just stop topping up. BG/NBD
(Fader, Hardie & Lee 2005) models the top-up count and the silent drop-out; Gamma-Gamma
(Fader, Hardie & Lee 2005b) models the amount per top-up. Both are fit here by maximum
likelihood on their closed-form log-likelihoods with log-parameterised SciPy optimisation,
because ``lifetimes`` is archived (last release 2020) and PyMC-Marketing would pull in the
whole PyMC stack for four parameters. Validated on CDNOW against the published figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

__all__ = ["BetaGeoModel", "GammaGammaModel", "prepaid_lifetime_value"]


def _arrays(*columns: ArrayLike) -> list[NDArray[np.float64]]:
    arrays = [np.asarray(c, dtype=float).ravel() for c in columns]
    n = arrays[0].size
    if any(a.size != n for a in arrays):
        raise ValueError("all inputs must have the same length")
    return arrays


def _fit_log_params(nll, start: Sequence[float]) -> NDArray[np.float64]:
    """Minimise a negative log-likelihood over log-parameters; Nelder-Mead then BFGS polish."""
    x0 = np.log(np.asarray(start, dtype=float))
    first = minimize(nll, x0, method="Nelder-Mead",
                     options={"maxiter": 5000, "xatol": 1e-8, "fatol": 1e-10})
    second = minimize(nll, first.x, method="BFGS", options={"gtol": 1e-8})
    best = second if np.isfinite(second.fun) and second.fun <= first.fun else first
    return np.exp(best.x)


_NEAR_POLE = 1e-10
"""How close to 0 ``a + b + x - 1`` may come; scipy's 2F1 has a pole there."""


def _forecast(r: float, a: float, b: float, x: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
    """``(a + b + x - 1) / (a - 1) · (1 - (1 - z)^(r + x) · 2F1(r + x, b + x; a + b + x - 1;
    z))``, the BG/NBD expected purchases before the odds of having left.

    The power and 2F1 are written, by Euler's transformation, as ``(1 - z)^(a - 1) ·
    2F1(a + b - 1 - r, a - 1; a + b + x - 1; z)``: the same value, but the series no
    longer overflows for subscribers with hundreds of transactions (the textbook form gives
    inf · 0 there). When a fit drives ``a`` and ``b`` to 0 (short histories, nobody seen
    leaving), ``a + b + x - 1`` reaches the pole at 0 for one repeat purchase; the forecast
    has a finite limit there, which ``_NEAR_POLE`` in its place reproduces to ~1e-10.
    """
    x = np.asarray(x, dtype=float)
    z = np.asarray(z, dtype=float)
    c = a + b + x - 1
    c = np.where(np.abs(c) < _NEAR_POLE, _NEAR_POLE, c)
    return c / (a - 1) * (1 - (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z))


class BetaGeoModel(BaseEstimator):
    """BG/NBD: how many more top-ups a prepaid subscriber will make, and whether still alive.

    Inputs per subscriber: ``frequency`` (repeat transactions), ``recency`` (time of the last
    one since the first) and ``T`` (time since the first), all in one time unit.
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    @staticmethod
    def _log_likelihood(params: NDArray[np.float64], x: NDArray[np.float64],
                        t_x: NDArray[np.float64], T: NDArray[np.float64]) -> NDArray[np.float64]:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                -np.inf,
            )
        return a1 + a2 + np.logaddexp(a3, a4)

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:
        x, t_x, big_t = _arrays(frequency, recency, T)
        if np.any(t_x > big_t) or np.any(x < 0):
            raise ValueError("recency must not exceed T and frequency must be >= 0")

        def nll(log_params: NDArray[np.float64]) -> float:
            params = np.exp(log_params)
            value = -self._log_likelihood(params, x, t_x, big_t).sum() / x.size
            value += self.penalizer * float(np.sum(params**2))
            return float(value) if np.isfinite(value) else 1e100

        scale = max(float(np.mean(big_t)), 1e-9)
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in _fit_log_params(
            nll, [1.0, scale, 1.0, 1.0]))
        self.log_likelihood_ = float(self._log_likelihood(self.params_, x, t_x, big_t).sum())
        self.n_subscribers_ = int(x.size)
        return self

    @property
    def params_(self) -> NDArray[np.float64]:
        check_is_fitted(self, "r_")
        return np.array([self.r_, self.alpha_, self.a_, self.b_])

    def expected_purchases(self, t: ArrayLike) -> NDArray[np.float64]:
        """E[X(t)] for a new subscriber (unconditional), used to check the fit."""
        r, alpha, a, b = self.params_
        t = np.asarray(t, dtype=float)
        return _forecast(r, a, b, 0.0, t / (alpha + t))

    def predict_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike,
                          T: ArrayLike) -> NDArray[np.float64]:
        """Expected transactions in the next ``t`` time units, given each subscriber's history."""
        r, alpha, a, b = self.params_
        x, t_x, big_t = _arrays(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        return (_forecast(r, a, b, x, t / (alpha + big_t + t))
                / (1 + self._odds_dead(x, t_x, big_t)))

    def _odds_dead(self, x: NDArray[np.float64], t_x: NDArray[np.float64],
                   big_t: NDArray[np.float64]) -> NDArray[np.float64]:
        r, alpha, a, b = self.params_
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                        + (r + x) * np.log((alpha + big_t) / (alpha + t_x)))
        return np.where(x > 0, np.exp(log_odds), 0.0)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike,
                          T: ArrayLike) -> NDArray[np.float64]:
        """P(still a customer | history): one-shot top-ups count as alive by construction."""
        x, t_x, big_t = _arrays(frequency, recency, T)
        return 1.0 / (1.0 + self._odds_dead(x, t_x, big_t))


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma: the long-run average amount per transaction, shrunk towards the population.

    Fit on subscribers with at least one repeat transaction; assumes amount and frequency
    are independent (check the correlation before trusting it).
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    @staticmethod
    def _log_likelihood(params: NDArray[np.float64], x: NDArray[np.float64],
                        m: NDArray[np.float64]) -> NDArray[np.float64]:
        p, q, v = params
        return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
                + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        x, m = _arrays(frequency, monetary_value)
        keep = (x > 0) & (m > 0)
        x, m = x[keep], m[keep]
        if x.size == 0:
            raise ValueError("Gamma-Gamma needs subscribers with repeat transactions")

        def nll(log_params: NDArray[np.float64]) -> float:
            params = np.exp(log_params)
            value = -self._log_likelihood(params, x, m).sum() / x.size
            value += self.penalizer * float(np.sum(params**2))
            return float(value) if np.isfinite(value) else 1e100

        self.p_, self.q_, self.v_ = (float(v) for v in _fit_log_params(
            nll, [1.0, 1.0, float(np.mean(m))]))
        self.log_likelihood_ = float(self._log_likelihood(
            np.array([self.p_, self.q_, self.v_]), x, m).sum())
        return self

    def expected_average_value(self, frequency: ArrayLike,
                               monetary_value: ArrayLike) -> NDArray[np.float64]:
        """E[amount per transaction | history]; population mean for those without repeats."""
        check_is_fitted(self, "p_")
        x, m = _arrays(frequency, monetary_value)
        p, q, v = self.p_, self.q_, self.v_
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1)


def prepaid_lifetime_value(bgnbd: BetaGeoModel, gamma_gamma: GammaGammaModel,
                           frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
                           monetary_value: ArrayLike, *, months: int = 12,
                           units_per_month: float = 30.0, monthly_discount: float = 0.01,
                           margin: float = 1.0) -> NDArray[np.float64]:
    """Discounted expected margin over ``months``: month-by-month purchases × value × margin.

    ``units_per_month`` converts the models' time unit (days by default) to months.
    """
    spend = gamma_gamma.expected_average_value(frequency, monetary_value)
    total = np.zeros_like(spend)
    previous = np.zeros_like(spend)
    for month in range(1, months + 1):
        cumulative = bgnbd.predict_purchases(month * units_per_month, frequency, recency, T)
        total += (cumulative - previous) * spend * margin / (1 + monthly_discount) ** month
        previous = cumulative
    return total
