"""The KPI cube a CRM team is judged by: one fact table, slice/dice/drill in DuckDB.

:func:`kpi_facts` builds one row per **customer and month** (temporary table, per
connection) with additive counts — active, new, churned, upgraded, downgraded, lines at
the start of the month, lines that left, revenue, cost, campaign contacts and responses —
and the customer's dimensions in that month: region, segment, value tier, plan,
preferred channel, call-circle size band. Ratios (churn rate, retention, ARPU, average
profit, campaign response rate) are computed from the sums *after* grouping, so every
cell of a ``CUBE``/``ROLLUP``/``GROUPING SETS`` is right, not an average of averages.

Definitions (the warehouse's words):

* active: holds a line on some day of the month; new: ``customers.join_date`` in the
  month; churned: a line left that month (``churn_events``) and no line is active at its
  end.
* churn rate: lines that left in the month / lines active on its first day (a line
  metric, as operators report it); retention = 1 − churn rate.
* revenue: the month's bills; cost: ``insight.value.CostModel`` (revenue share, per line,
  per minute / SMS / MB) — the same model the value tiers use; ARPU: revenue per active
  line; average profit: (revenue − cost) per active customer.
* upgraded / downgraded: moved up / down the monthly **revenue ladder** (five quantile
  rungs of the month's revenue among active customers) since the previous month; the
  ``value_tier`` *dimension* is the scored tier (``customer_value``) in force that month.
* campaign response: accepted responses / treated contacts made in the month.

:func:`kpis` takes measure and dimension names from whitelists (they become SQL
identifiers only through the tables below) and filter values only as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from graph.locales import (
    DEFAULT_LOCALE,
    N_,
    format_money,
    format_month,
    normalize,
    translator,
)
from graph.warehouse import latest_cutoff_sql, sql_string, table_exists
from insight.value import DEFAULT_TIER_LABELS, CostModel, tier_name

__all__ = ["DIMENSIONS", "FACTS_TABLE", "LABELS", "MEASURES", "PLACEHOLDERS", "kpi_facts",
           "kpis", "label", "localized", "value_label"]

FACTS_TABLE = "kpi_facts"

MEASURES: dict[str, str] = {
    "active_customers": "sum(active)",
    "new_customers": "sum(new)",
    "churned_customers": "sum(churned)",
    "upgraded": "sum(upgraded)",
    "downgraded": "sum(downgraded)",
    "lines_at_start": "sum(lines_start)",
    "active_lines": "sum(lines_active)",
    "churned_lines": "sum(lines_churned)",
    "churn_rate": "sum(lines_churned) / nullif(sum(lines_start), 0)",
    "retention": "1 - sum(lines_churned) / nullif(sum(lines_start), 0)",
    "revenue": "sum(revenue)",
    "cost": "sum(cost)",
    "profit": "sum(revenue - cost)",
    "arpu": "sum(revenue) / nullif(sum(lines_active), 0)",
    "average_profit": "sum(revenue - cost) / nullif(sum(active), 0)",
    "campaign_contacts": "sum(campaign_contacts)",
    "campaign_responses": "sum(campaign_responses)",
    "campaign_response_rate": "sum(campaign_responses) / nullif(sum(campaign_contacts), 0)",
}
"""Measure name → SQL over the fact table (ratios from sums, right in every cell)."""

LABELS: dict[str, str] = {
    "active_customers": N_("active customers"), "new_customers": N_("new customers"),
    "churned_customers": N_("churned customers"), "upgraded": N_("upgraded"),
    "downgraded": N_("downgraded"), "lines_at_start": N_("lines at start"),
    "active_lines": N_("active lines"), "churned_lines": N_("churned lines"),
    "churn_rate": N_("churn rate"), "retention": N_("retention"), "revenue": N_("revenue"),
    "cost": N_("cost"), "profit": N_("profit"), "arpu": N_("ARPU"),
    "average_profit": N_("average profit"), "campaign_contacts": N_("campaign contacts"),
    "campaign_responses": N_("campaign responses"),
    "campaign_response_rate": N_("campaign response rate"),
    "month": N_("month"), "region": N_("region"), "segment": N_("segment"),
    "value_tier": N_("value tier"), "plan": N_("plan"), "channel": N_("channel"),
    "circle_size_band": N_("call circle size"), "rolled_up": N_("subtotal of"),
}
"""Measure and dimension → its name for an analyst (a catalog message, see ``localized``)."""
MONEY: tuple[str, ...] = ("revenue", "cost", "profit", "arpu", "average_profit")
"""Measures in yuan."""

PLACEHOLDERS: dict[str, str] = {
    "region": N_("unknown"), "segment": N_("unsegmented"), "value_tier": N_("unscored"),
    "plan": N_("none"), "channel": N_("none"), "circle_size_band": N_("no circle"),
}
"""The value ``kpi_facts`` writes where a customer has none of a dimension: callcircle's
words, translated, unlike the operator's own values (regions, plans, channels)."""

DIMENSIONS: tuple[str, ...] = ("month", "region", "segment", "value_tier", "plan",
                               "channel", "circle_size_band")
GROUPINGS = ("cube", "rollup", "sets", "plain")


def _sources(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """SQL for the optional inputs, or empty stand-ins when a table is absent."""
    def has(*tables: str, column: str | None = None) -> bool:
        if not all(table_exists(con, t) for t in tables):
            return False
        return column is None or bool(con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ?",
            [tables[0], column]).fetchall()[0][0])

    def latest(value: str, table: str) -> str:
        """Each month's rows of ``table`` at its latest cut-off by the month's end."""
        cut = latest_cutoff_sql(table, at_most="m.month + INTERVAL 1 MONTH")
        return (f"SELECT m.month, x.customer_id, {value} AS v FROM months m JOIN {table} x "
                f"ON x.cutoff = coalesce({cut}, (SELECT min(cutoff) FROM {table}))")

    none = "SELECT NULL::DATE AS month, NULL::VARCHAR AS customer_id, NULL::VARCHAR AS v " \
           "WHERE false"
    return {
        "segment": (f"SELECT month, customer_id, CAST(min(v) AS VARCHAR) AS v FROM ("
                    f"{latest('x.segment_id', 'segment_members')}) "
                    "GROUP BY ALL") if has("segment_members") else none,
        "tier": latest("x.value_tier", "customer_value")
        if has("customer_value") else none,
        "circle": (f"SELECT month, customer_id, max(v) AS v FROM ("
                   f"{latest('x.circle_size', 'graph_features')}) "
                   "GROUP BY ALL") if has("graph_features", column="circle_size") else
        none.replace("NULL::VARCHAR AS v", "NULL::BIGINT AS v"),
        "channel": ("SELECT m.month, i.customer_id, mode(i.channel) AS v FROM months m JOIN "
                    "interactions i ON i.occurred_at < m.month + INTERVAL 1 MONTH GROUP BY ALL"
                    ) if has("interactions") else none,
        "bills": ("SELECT s.customer_id, b.period AS month, sum(b.total_amount) AS revenue "
                  "FROM bills b JOIN subscriptions s USING (subscription_id) GROUP BY ALL")
        if has("bills") else "SELECT NULL::VARCHAR AS customer_id, NULL::DATE AS month, "
                             "0.0 AS revenue WHERE false",
        "usage": ("SELECT s.customer_id, u.month, sum(u.seconds_out) / 60.0 AS minutes, "
                  "sum(u.sms_out) AS sms, sum(u.data_mb) AS mb FROM usage_monthly u JOIN "
                  "subscriptions s ON s.msisdn = u.msisdn GROUP BY ALL")
        if has("usage_monthly") else "SELECT NULL::VARCHAR AS customer_id, NULL::DATE AS "
                                     "month, 0.0 AS minutes, 0.0 AS sms, 0.0 AS mb WHERE false",
        "churn": ("SELECT e.subscription_id, min(e.churn_date) AS churn_date FROM "
                  "churn_events e GROUP BY 1") if has("churn_events") else
        "SELECT NULL::VARCHAR AS subscription_id, NULL::DATE AS churn_date WHERE false",
        "contacts": ("SELECT k.customer_id, date_trunc('month', k.contacted_at)::DATE AS month,"
                     " count(*) AS contacts, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "
                     "campaign_responses r WHERE r.contact_id = k.contact_id AND r.response = "
                     "'accepted')) AS responses FROM campaign_contacts k WHERE "
                     "k.contact_group = 'treatment' AND k.contacted_at IS NOT NULL GROUP BY ALL")
        if has("campaign_contacts", "campaign_responses") else
        "SELECT NULL::VARCHAR AS customer_id, NULL::DATE AS month, 0 AS contacts, "
        "0 AS responses WHERE false",
    }


def _months_sql(con: duckdb.DuckDBPyConnection) -> str:
    spans = [f"SELECT min({c}) AS lo, max({c}) AS hi FROM {t}" for t, c in (
        ("usage_monthly", "month"), ("bills", "period"))
        if table_exists(con, t)]
    if not spans and table_exists(con, "churn_events"):
        spans = ["SELECT date_trunc('month', min(churn_date))::DATE AS lo, "
                 "date_trunc('month', max(churn_date))::DATE AS hi FROM churn_events"]
    if not spans:
        raise ValueError("the warehouse has no usage_monthly, bills or churn_events: no months")
    return (f"SELECT CAST(range AS DATE) AS month FROM (SELECT min(lo) AS lo, max(hi) AS hi "
            f"FROM ({' UNION ALL '.join(spans)})), range(lo, hi + INTERVAL 1 DAY, "
            f"INTERVAL 1 MONTH)")


def kpi_facts(con: duckdb.DuckDBPyConnection, *, cost_model: CostModel | None = None,
              refresh: bool = False) -> str:
    """Build (once per connection) the customer × month fact table; returns its name."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND "
                         "table_name = ?", [FACTS_TABLE]).fetchall()[0][0]
    if exists and not refresh:
        return FACTS_TABLE
    cost = cost_model or CostModel()
    src = _sources(con)
    blank = {dimension: sql_string(word) for dimension, word in PLACEHOLDERS.items()}
    tiers = list(DEFAULT_TIER_LABELS)
    sql = f"""
        CREATE OR REPLACE TEMP TABLE {FACTS_TABLE} AS
        WITH months AS ({_months_sql(con)}),
        churn AS ({src['churn']}),
        lines AS (
            SELECT m.month, s.customer_id, s.subscription_id, s.product_id,
                   s.start_date < m.month AND coalesce(s.end_date, DATE '9999-12-31') >= m.month
                       AND coalesce(c.churn_date, DATE '9999-12-31') >= m.month AS at_start,
                   coalesce(c.churn_date >= m.month
                            AND c.churn_date < m.month + INTERVAL 1 MONTH, false) AS left_now,
                   coalesce(s.end_date, c.churn_date, DATE '9999-12-31')
                       >= m.month + INTERVAL 1 MONTH
                       AND coalesce(c.churn_date, DATE '9999-12-31')
                       >= m.month + INTERVAL 1 MONTH AS at_end
            FROM months m JOIN subscriptions s ON s.start_date < m.month + INTERVAL 1 MONTH
                AND coalesce(s.end_date, DATE '9999-12-31') >= m.month
            LEFT JOIN churn c USING (subscription_id)
            WHERE coalesce(c.churn_date, DATE '9999-12-31') >= m.month
        ),
        per_customer AS (
            SELECT month, customer_id, count(*) AS lines_active,
                   count(*) FILTER (WHERE at_start) AS lines_start,
                   count(*) FILTER (WHERE left_now) AS lines_churned,
                   count(*) FILTER (WHERE at_end) AS lines_end, mode(product_id) AS plan
            FROM lines GROUP BY ALL
        ),
        bills AS ({src['bills']}), usage AS ({src['usage']}),
        contacts AS ({src['contacts']}),
        base AS (
            SELECT month, customer_id FROM per_customer
            UNION SELECT month, customer_id FROM contacts WHERE month IN (SELECT month FROM months)
        ),
        money AS (
            SELECT x.month, x.customer_id, (p.customer_id IS NOT NULL)::INT AS active,
                   coalesce(p.lines_active, 0) AS lines_active,
                   coalesce(p.lines_start, 0) AS lines_start,
                   coalesce(p.lines_churned, 0) AS lines_churned,
                   coalesce(p.lines_end, 0) AS lines_end, p.plan,
                   coalesce(b.revenue, 0) AS revenue,
                   coalesce(b.revenue, 0) * $share + coalesce(p.lines_active, 0) * $per_line
                   + coalesce(u.minutes, 0) * $per_minute + coalesce(u.sms, 0) * $per_sms
                   + coalesce(u.mb, 0) * $per_mb AS cost,
                   coalesce(k.contacts, 0) AS campaign_contacts,
                   coalesce(k.responses, 0) AS campaign_responses
            FROM base x
            LEFT JOIN per_customer p USING (customer_id, month)
            LEFT JOIN bills b USING (customer_id, month)
            LEFT JOIN usage u USING (customer_id, month)
            LEFT JOIN contacts k USING (customer_id, month)
        ),
        ladder AS (
            SELECT *, CASE WHEN active = 1 THEN ntile(5) OVER (PARTITION BY month, active
                ORDER BY revenue DESC, customer_id) END AS rung FROM money
        ),
        moved AS (
            SELECT *, lag(rung) OVER w AS prev_rung, lag(month) OVER w AS prev_month
            FROM ladder WHERE active = 1 WINDOW w AS (PARTITION BY customer_id ORDER BY month)
            UNION ALL BY NAME
            SELECT *, NULL::BIGINT AS prev_rung, NULL::DATE AS prev_month
            FROM ladder WHERE active = 0
        ),
        segment AS ({src['segment']}), tier AS ({src['tier']}),
        circle AS ({src['circle']}), channel AS ({src['channel']})
        SELECT mv.month, mv.customer_id,
               coalesce(cu.region, {blank['region']}) AS region,
               coalesce(sg.v, {blank['segment']}) AS segment,
               coalesce(tr.v, {blank['value_tier']}) AS value_tier,
               coalesce(mv.plan, {blank['plan']}) AS plan,
               coalesce(ch.v, {blank['channel']}) AS channel,
               CASE WHEN ci.v IS NULL THEN {blank['circle_size_band']} WHEN ci.v < 5 THEN '1-4'
                    WHEN ci.v < 10 THEN '5-9' WHEN ci.v < 20 THEN '10-19' ELSE '20+' END
                   AS circle_size_band,
               mv.active,
               (mv.active = 1 AND date_trunc('month', cu.join_date) = mv.month)::INT AS new,
               (mv.lines_churned > 0 AND mv.lines_end = 0)::INT AS churned,
               coalesce(mv.prev_month = mv.month - INTERVAL 1 MONTH
                        AND mv.rung < mv.prev_rung, false)::INT AS upgraded,
               coalesce(mv.prev_month = mv.month - INTERVAL 1 MONTH
                        AND mv.rung > mv.prev_rung, false)::INT AS downgraded,
               $tiers[mv.rung] AS revenue_rung,
               mv.lines_start, mv.lines_active, mv.lines_churned, mv.revenue, mv.cost,
               mv.campaign_contacts, mv.campaign_responses
        FROM moved mv
        LEFT JOIN customers cu USING (customer_id)
        LEFT JOIN segment sg ON sg.month = mv.month AND sg.customer_id = mv.customer_id
        LEFT JOIN tier tr ON tr.month = mv.month AND tr.customer_id = mv.customer_id
        LEFT JOIN circle ci ON ci.month = mv.month AND ci.customer_id = mv.customer_id
        LEFT JOIN channel ch ON ch.month = mv.month AND ch.customer_id = mv.customer_id
    """
    con.execute(sql, {"share": float(cost.revenue_share), "per_line": float(cost.per_line),
                      "per_minute": float(cost.per_minute), "per_sms": float(cost.per_sms),
                      "per_mb": float(cost.per_mb), "tiers": tiers})
    return FACTS_TABLE


def _check(names: Sequence[str], allowed: Sequence[str], what: str) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; use {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} named twice: {names}")
    return names


def _filter_value(dimension: str, value: Any) -> Any:
    if dimension == "month":
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:7] + "-01")
    return str(value)


def kpis(con: duckdb.DuckDBPyConnection, measures: Sequence[str],
         by: Sequence[str] = (), filter: Mapping[str, Any] | None = None, *,
         grouping: str = "rollup", sets: Sequence[Sequence[str]] | None = None) -> pd.DataFrame:
    """KPI measures by dimensions, with subtotals.

    ``grouping``: ``rollup`` (drill down ``by`` in order, subtotals up to the grand
    total), ``cube`` (every combination), ``sets`` (exactly the ``sets`` given), ``plain``
    (no subtotals). ``filter``: dimension → value or list of values (slice / dice).
    A subtotal row has NULL in the rolled-up dimensions and their names in ``rolled_up``.
    """
    measures = _check(measures, list(MEASURES), "measure(s)")
    if not measures:
        raise ValueError(f"name at least one measure: {', '.join(MEASURES)}")
    by = _check(by, DIMENSIONS, "dimension(s)")
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; use {', '.join(GROUPINGS)}")
    facts = kpi_facts(con)
    where, params = [], {}
    for i, (dim, value) in enumerate((filter or {}).items()):
        _check([dim], DIMENSIONS, "filter dimension")
        values = value if isinstance(value, list | tuple | set) else [value]
        params[f"f{i}"] = [_filter_value(dim, v) for v in values]
        where.append(f"list_contains($f{i}, {dim})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    dims = ", ".join(by)
    if not by:
        group = ""
    elif grouping == "cube":
        group = f"GROUP BY CUBE ({dims})"
    elif grouping == "rollup":
        group = f"GROUP BY ROLLUP ({dims})"
    elif grouping == "sets":
        if not sets:
            raise ValueError("grouping 'sets' needs the sets, e.g. [['month'], ['region']]")
        checked = [_check(s, by, "grouping set dimension(s)") for s in sets]
        group = "GROUP BY GROUPING SETS (" + ", ".join(
            f"({', '.join(s)})" for s in checked) + ")"
    else:
        group = f"GROUP BY {dims}"
    rolled = (", list_filter([" + ", ".join(
        f"CASE WHEN grouping({d}) = 1 THEN '{d}' END" for d in by) + "], lambda x: x IS NOT NULL)"
        " AS rolled_up") if by else ""
    select = ", ".join([*by, *[f"{MEASURES[m]} AS {m}" for m in measures]])
    sql = (f"SELECT {select}{rolled} FROM {facts} {clause} {group} "
           f"ORDER BY {', '.join(f'{d} NULLS LAST' for d in by) or '1'}")
    frame = con.execute(sql, params).df()
    if "month" in frame:
        frame["month"] = pd.to_datetime(frame["month"]).dt.date
    if "rolled_up" in frame:
        frame["rolled_up"] = frame["rolled_up"].map(list)
    return frame


def label(name: str, locale: str | None = None) -> str:
    """A measure's or dimension's name as analysts read it in ``locale`` (离网率 …)."""
    return translator(locale).gettext(LABELS.get(name, name))


def value_label(dimension: str, value: object, locale: str | None = None) -> str | None:
    """A dimension's value as an analyst reads it in ``locale``: months 2026年7月, value
    tiers 金卡, callcircle's placeholders (未分群 …); the operator's own values, segment
    ids and circle size bands as they are. ``None`` (a subtotal) stays ``None``."""
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if dimension == "month":
        month = value if isinstance(value, date) else date.fromisoformat(f"{str(value)[:7]}-01")
        return format_month(month, locale)
    text = str(value)
    if normalize(locale) == DEFAULT_LOCALE:
        return text
    if dimension == "value_tier":
        return tier_name(text, locale)
    if text == PLACEHOLDERS.get(dimension):
        return translator(locale).gettext(text)
    return text


def localized(frame: pd.DataFrame, locale: str | None = None) -> pd.DataFrame:
    """A ``kpis`` frame for an analyst reading ``locale``: named, yuan, months, tiers in words.

    English is the frame itself (its columns are the API's names); in ``zh-CN`` columns
    read 离网率 …, money ¥1.2万, months 2026年7月 and value tiers their catalog names.
    """
    locale = normalize(locale)
    if locale == DEFAULT_LOCALE:
        return frame
    _ = translator(locale).gettext
    shown = frame.copy()
    for column in shown.columns:
        if column in MONEY:
            shown[column] = shown[column].map(
                lambda v: None if pd.isna(v) else format_money(v, locale))
        elif column in DIMENSIONS:
            shown[column] = [value_label(column, v, locale) for v in shown[column]]
        elif column == "rolled_up":
            shown[column] = shown[column].map(lambda dims: [label(d, locale) for d in dims])
    return shown.rename(columns=lambda c: label(c, locale))
