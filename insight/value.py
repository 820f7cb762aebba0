"""What each subscriber and customer is worth: now, over their lifetime, and through their circle.

* **Current value** — monthly revenue from bills (prepaid: statements, else top-ups), margin
  after a configurable cost model, ARPU trend and tenure, as of a cut-off.
* **Lifetime value (CLV)** — expected discounted margin over a horizon. Postpaid survival
  comes from the churn model's calibrated monthly risk (constant hazard); prepaid
  subscribers, who leave silently, get BG/NBD + Gamma-Gamma on their top-ups.
* **Value tiers** — the customer ladder, by value quantiles; a Pareto report.
* **Network value** — what a subscriber's departure would put at risk in their circle:
  ``NV(i) = Σ_j  s_ji · follow_j · value_j`` where ``s_ji`` is the share of ``j``'s tie
  strength that goes to ``i`` (how much ``j`` depends on ``i``) and ``follow_j`` the chance
  that ``j`` follows a close contact out (estimated from history, or given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from graph.locales import N_, translator
from graph.warehouse import month_start, sql_date, table_exists, tie_strength_sql
from insight.clv import BetaGeoModel, GammaGammaModel, prepaid_lifetime_value

__all__ = [
    "DEFAULT_TIER_LABELS",
    "CostModel",
    "current_value",
    "customer_value",
    "follow_rate",
    "lifetime_value",
    "network_value",
    "network_value_from_warehouse",
    "pareto",
    "pareto_curve",
    "prepaid_history",
    "revenue_holdout",
    "tier_movement",
    "tier_name",
    "value_tiers",
]

DEFAULT_TIER_LABELS = (N_("platinum"), N_("gold"), N_("silver"), N_("bronze"), N_("basic"))
"""Value tiers, richest first; catalog messages (客户阶梯 in zh-CN)."""


def tier_name(tier: str | None, locale: str | None = None) -> str | None:
    """A value tier as ``locale`` names it (金卡 …); an operator's own tier label as is."""
    return None if tier is None else translator(locale).gettext(tier)


@dataclass(frozen=True)
class CostModel:
    """Cost to serve a line per month; margin = revenue − cost.

    Defaults are round placeholders for a Chinese mobile operator; set them from finance.
    """

    revenue_share: float = 0.10
    """Share of revenue lost to tax, channel commission and bad debt."""
    per_line: float = 5.0
    """Fixed monthly cost per line (billing, care, licence)."""
    per_minute: float = 0.02
    per_sms: float = 0.005
    per_mb: float = 0.001

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def current_value(con: duckdb.DuckDBPyConnection, cutoff: date, *,
                  cost_model: CostModel | None = None, months: int = 3) -> pd.DataFrame:
    """Per subscriber active at ``cutoff``: monthly revenue, margin, ARPU trend, tenure.

    Revenue is the mean of the bills issued before the cut-off for the last ``months``
    periods; a line without bills (a prepaid export without statements) uses its top-ups.
    """
    cost = cost_model or CostModel()
    c, start = sql_date(cutoff), sql_date(month_start(cutoff, -months))
    has_usage = table_exists(con, "usage_monthly")
    usage = (f"""SELECT msisdn, avg((seconds_out) / 60.0) AS minutes, avg(sms_out) AS sms,
                        avg(data_mb) AS data_mb
                 FROM usage_monthly WHERE month >= {start} AND month < {c} GROUP BY ALL"""
             if has_usage else
             "SELECT NULL::VARCHAR AS msisdn, 0.0 AS minutes, 0.0 AS sms, 0.0 AS data_mb "
             "WHERE FALSE")
    frame = con.execute(f"""
        WITH gone AS (SELECT subscription_id, min(churn_date) AS churn_date
                      FROM churn_events GROUP BY ALL),
        active AS (
            SELECT s.subscription_id, s.customer_id, s.msisdn, p.payment_type,
                   datediff('month', s.start_date, {c}) AS tenure_months
            FROM subscriptions s
            LEFT JOIN gone g USING (subscription_id)
            LEFT JOIN products p ON p.product_id = s.product_id
            WHERE s.start_date < {c} AND (g.churn_date IS NULL OR g.churn_date >= {c})
              AND (s.end_date IS NULL OR s.end_date >= {c})
        ),
        billed AS (
            SELECT subscription_id, period, total_amount,
                   row_number() OVER (PARTITION BY subscription_id ORDER BY period DESC) AS k
            FROM bills WHERE issue_date < {c} AND period >= {start}
        ),
        bill_value AS (
            SELECT subscription_id, avg(total_amount) AS billed_revenue,
                   max(total_amount) FILTER (WHERE k = 1) AS last_bill,
                   avg(total_amount) FILTER (WHERE k > 1) AS earlier_bills
            FROM billed GROUP BY ALL
        ),
        topup_value AS (
            SELECT subscription_id, sum(amount) / {months} AS topup_revenue
            FROM payments
            WHERE bill_id IS NULL AND paid_at < {c} AND paid_at >= {start}
            GROUP BY ALL
        ),
        usage AS ({usage})
        SELECT a.*,
               coalesce(b.billed_revenue, t.topup_revenue, 0) AS monthly_revenue,
               b.last_bill / nullif(b.earlier_bills, 0) - 1 AS arpu_trend,
               coalesce(u.minutes, 0) AS minutes, coalesce(u.sms, 0) AS sms,
               coalesce(u.data_mb, 0) AS data_mb
        FROM active a
        LEFT JOIN bill_value b USING (subscription_id)
        LEFT JOIN topup_value t USING (subscription_id)
        LEFT JOIN usage u USING (msisdn)
        ORDER BY a.subscription_id
    """).df()
    frame["monthly_cost"] = (cost.revenue_share * frame["monthly_revenue"] + cost.per_line
                             + cost.per_minute * frame["minutes"] + cost.per_sms * frame["sms"]
                             + cost.per_mb * frame["data_mb"])
    frame["monthly_margin"] = frame["monthly_revenue"] - frame["monthly_cost"]
    return frame.drop(columns=["minutes", "sms", "data_mb"])


def customer_value(subscriber_value: pd.DataFrame,
                   value_columns: Sequence[str] = ("monthly_revenue", "monthly_margin", "clv",
                                                   "network_value")) -> pd.DataFrame:
    """Roll subscriber value up to the customer (the party that pays and decides)."""
    columns = [c for c in value_columns if c in subscriber_value.columns]
    grouped = subscriber_value.groupby("customer_id")
    out = grouped[columns].sum()
    out["lines"] = grouped.size()
    out["tenure_months"] = grouped["tenure_months"].max()
    return out.reset_index()


def lifetime_value(monthly_margin: ArrayLike, monthly_churn_risk: ArrayLike, *,
                   horizon_months: int = 24, annual_discount: float = 0.10) -> NDArray[np.float64]:
    """Σ_{m=1..H} margin · (1 − risk)^m / (1 + d)^m — constant hazard from the churn model.

    Closed form of the geometric sum, so it scores millions of lines without a loop.
    """
    margin = np.asarray(monthly_margin, dtype=float)
    risk = np.clip(np.asarray(monthly_churn_risk, dtype=float), 0.0, 1.0)
    monthly_discount = (1 + annual_discount) ** (1 / 12) - 1
    q = (1 - risk) / (1 + monthly_discount)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.where(np.isclose(q, 1.0), horizon_months,
                         q * (1 - q**horizon_months) / (1 - q))
    return margin * total


def prepaid_history(con: duckdb.DuckDBPyConnection, cutoff: date) -> pd.DataFrame:
    """Top-up history per prepaid line in days: frequency, recency, T, mean repeat top-up."""
    c = sql_date(cutoff)
    return con.execute(f"""
        WITH t AS (
            SELECT subscription_id, CAST(paid_at AS DATE) AS day, sum(amount) AS amount
            FROM payments WHERE bill_id IS NULL AND paid_at < {c} GROUP BY ALL
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY subscription_id ORDER BY day) AS k,
                   min(day) OVER (PARTITION BY subscription_id) AS first_day
            FROM t
        )
        SELECT subscription_id, count(*) - 1 AS frequency,
               datediff('day', min(first_day), max(day)) AS recency,
               datediff('day', min(first_day), {c}) AS T,
               coalesce(avg(amount) FILTER (WHERE k > 1), 0) AS monetary_value
        FROM ranked GROUP BY ALL ORDER BY subscription_id
    """).df()


def prepaid_clv(history: pd.DataFrame, *, horizon_months: int = 24,
                annual_discount: float = 0.10, margin: float = 0.8) -> pd.Series:
    """BG/NBD + Gamma-Gamma CLV of prepaid lines from :func:`prepaid_history`."""
    if len(history) < 20 or (history["frequency"] > 0).sum() < 10:
        return pd.Series(np.nan, index=history["subscription_id"])
    bg = BetaGeoModel(penalizer=1e-3).fit(history["frequency"], history["recency"],
                                          history["T"])
    gg = GammaGammaModel(penalizer=1e-3).fit(history["frequency"], history["monetary_value"])
    monthly_discount = (1 + annual_discount) ** (1 / 12) - 1
    clv = prepaid_lifetime_value(bg, gg, history["frequency"], history["recency"],
                                 history["T"], history["monetary_value"],
                                 months=horizon_months, units_per_month=30.4,
                                 monthly_discount=monthly_discount, margin=margin)
    return pd.Series(clv, index=history["subscription_id"])


def value_tiers(values: ArrayLike, n_tiers: int = 5,
                labels: Sequence[str] | None = None) -> NDArray[np.object_]:
    """The customer ladder: tier 1 = highest value quantile. Ties share a tier."""
    labels = list(labels) if labels is not None else (
        list(DEFAULT_TIER_LABELS) if n_tiers == 5 else [f"tier {i + 1}" for i in range(n_tiers)])
    if len(labels) != n_tiers:
        raise ValueError("one label per tier")
    values = np.asarray(values, dtype=float)
    ranks = pd.Series(values).rank(method="average", pct=True, ascending=False).to_numpy()
    index = np.minimum((ranks * n_tiers - 1e-9).astype(int), n_tiers - 1)
    index = np.clip(index, 0, n_tiers - 1)
    return np.asarray(labels, dtype=object)[index]


def tier_movement(con: duckdb.DuckDBPyConnection, cutoff: date, *, months_back: int = 1,
                  n_tiers: int = 5) -> pd.DataFrame:
    """Customers moving on the ladder of monthly revenue between ``months_back`` months before
    ``cutoff`` and ``cutoff``: rows = tier before, columns = tier at the cut-off, with rows
    "new" (no revenue before) and columns "gone" (none at the cut-off). Both ladders are
    drawn by the same rule (:func:`value_tiers` on the customer's summed monthly revenue),
    so a move is a change of the customer's revenue against everyone else's."""
    ladders = []
    for when in (month_start(cutoff, -months_back), cutoff):
        revenue = current_value(con, when).groupby("customer_id")["monthly_revenue"].sum()
        ladders.append(pd.Series(value_tiers(revenue.to_numpy(), n_tiers), index=revenue.index))
    labels = list(DEFAULT_TIER_LABELS) if n_tiers == 5 else [
        f"tier {i + 1}" for i in range(n_tiers)]
    frame = pd.concat({"before": ladders[0], "after": ladders[1]}, axis=1)
    table = pd.crosstab(frame["before"].fillna("new"), frame["after"].fillna("gone"))
    return (table.reindex(index=[*labels, "new"], columns=[*labels, "gone"], fill_value=0)
            .rename_axis(index=None, columns=None).astype(int))


def pareto(values: ArrayLike, top_share: float = 0.2) -> float:
    """Share of the total coming from the top ``top_share`` of subscribers."""
    values = np.sort(np.clip(np.asarray(values, dtype=float), 0, None))[::-1]
    total = values.sum()
    if total <= 0:
        return float("nan")
    n_top = max(1, round(top_share * values.size))
    return float(values[:n_top].sum() / total)


def pareto_curve(values: ArrayLike, points: int = 101) -> pd.DataFrame:
    """Cumulative share of value against share of subscribers, richest first."""
    values = np.sort(np.clip(np.asarray(values, dtype=float), 0, None))[::-1]
    cumulative = np.concatenate([[0.0], np.cumsum(values)]) / max(values.sum(), 1e-12)
    share = np.linspace(0, 1, points)
    return pd.DataFrame({"subscribers": share,
                         "value": np.interp(share * values.size, np.arange(values.size + 1),
                                            cumulative)})


def network_value(edges: pd.DataFrame, value: pd.Series, follow: pd.Series | float,
                  circles: pd.Series | None = None) -> pd.Series:
    """Value put at risk in a subscriber's circle if they leave.

    ``edges``: columns ``a, b, weight`` (undirected, one row per pair). ``value``: value per
    node (missing nodes, e.g. off-net numbers, are worth 0 to us). ``follow``: per node or
    one rate. ``circles``: optional node → circle id; then only members of the same circle
    count. Returns NV per node in ``value``'s index.
    """
    both = pd.concat([
        edges[["a", "b", "weight"]].rename(columns={"a": "i", "b": "j"}),
        edges[["b", "a", "weight"]].rename(columns={"b": "i", "a": "j"}),
    ], ignore_index=True)
    both = both[both["i"] != both["j"]]
    strength = both.groupby("j")["weight"].transform("sum")
    both["dependence"] = both["weight"] / strength  # share of j's ties that go to i
    if circles is not None:
        same = both["i"].map(circles).eq(both["j"].map(circles)) & both["i"].map(circles).notna()
        both = both[same]
    follow_j = (both["j"].map(follow).fillna(0.0) if isinstance(follow, pd.Series)
                else pd.Series(float(follow), index=both.index))
    both["at_risk"] = both["dependence"] * follow_j * both["j"].map(value).fillna(0.0)
    return both.groupby("i")["at_risk"].sum().reindex(value.index, fill_value=0.0)


def network_value_from_warehouse(con: duckdb.DuckDBPyConnection, cutoff: date,
                                 value: pd.Series, follow: pd.Series | float, *,
                                 window_months: int = 3) -> pd.Series:
    """:func:`network_value` over the call edges of the months before ``cutoff``; restricted
    to call circles when the graph stage has written ``circle_members``."""
    c, start = sql_date(cutoff), sql_date(month_start(cutoff, -window_months))
    edges = con.execute(f"""
        SELECT a, b, sum({tie_strength_sql("calls_ab + calls_ba", "sms_ab + sms_ba",
                                           "seconds_ab + seconds_ba")}) AS weight
        FROM call_edges WHERE month >= {start} AND month < {c} GROUP BY ALL
    """).df()
    circles = None
    if table_exists(con, "circle_members"):
        columns = set(con.execute("SELECT column_name FROM duckdb_columns() "
                                  "WHERE table_name = 'circle_members'").df()["column_name"])
        if {"msisdn", "circle_id"} <= columns:
            where = f"WHERE cutoff = {c}" if "cutoff" in columns else ""
            members = con.execute(f"SELECT msisdn, circle_id FROM circle_members {where}").df()
            if len(members):
                circles = members.drop_duplicates("msisdn").set_index("msisdn")["circle_id"]
    return network_value(edges, value, follow, circles)


def follow_rate(exposed: ArrayLike, churned: ArrayLike) -> float:
    """Excess churn of subscribers whose close contact just left over the others, ≥ 0:
    the chance of following, measured, not assumed."""
    exposed = np.asarray(exposed, dtype=bool)
    churned = np.asarray(churned, dtype=float)
    if exposed.sum() == 0 or (~exposed).sum() == 0:
        return 0.0
    return float(max(churned[exposed].mean() - churned[~exposed].mean(), 0.0))


def revenue_holdout(con: duckdb.DuckDBPyConnection, cutoff: date, scored: pd.DataFrame, *,
                    months: int = 3) -> pd.DataFrame:
    """Predicted vs realised revenue per value tier over the ``months`` after ``cutoff``.

    ``scored`` needs ``subscription_id, value_tier, monthly_revenue`` and ``churn_risk``;
    predicted revenue is monthly revenue × expected surviving months.
    """
    c, end = sql_date(cutoff), sql_date(month_start(cutoff, months))
    realised = con.execute(f"""
        SELECT subscription_id, sum(total_amount) AS realised
        FROM bills WHERE period >= {c} AND period < {end} GROUP BY ALL
    """).df()
    frame = scored.merge(realised, on="subscription_id", how="left")
    frame["realised"] = frame["realised"].fillna(0.0)
    survive = 1 - np.clip(frame["churn_risk"].to_numpy(dtype=float), 0, 1)
    expected_months = sum(survive**m for m in range(1, months + 1))
    frame["predicted"] = frame["monthly_revenue"] * expected_months
    table = frame.groupby("value_tier", sort=False).agg(
        subscribers=("subscription_id", "size"), predicted=("predicted", "sum"),
        realised=("realised", "sum"))
    table["ratio"] = table["realised"] / table["predicted"].replace(0, np.nan)
    return table.reset_index()
