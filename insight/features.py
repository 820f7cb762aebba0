"""The churn feature table: one row per subscriber active at a cut-off, in warehouse SQL.

Everything is computed as of the cut-off (first day of a month): only bills issued,
payments made, contacts logged and calls placed *before* it count, and the export-time
``status``/``end_date`` are used only to exclude lines already gone. The label is a
port-out or termination in the month after the cut-off, from ``churn_events``.

Feature groups (``FeatureSet.groups``): plan and tenure, billing, service, behaviour, and
**graph** — every numeric column of ``graph_features`` for the cut-off, read from the
warehouse where the graph stage wrote it. The pull of contacts who left (how many, how
strongly tied, how recently) is defined there once (``graph.features``); nothing here
computes it again. Tables the warehouse lacks (no CDRs for IBM Telco, no graph stage) drop
their group instead of failing, so the same code runs on a real export without a call graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from graph.catalogue import FEATURES, group
from graph.warehouse import month_start, sql_date, table_exists

__all__ = ["ID_COLUMNS", "LABEL", "FeatureSet", "available_cutoffs", "churn_features",
           "export_cutoff"]

ID_COLUMNS = ["subscription_id", "customer_id", "msisdn"]
LABEL = "churned"

CATEGORICAL = ["plan", "payment_type", "plan_type", "customer_type", "region"]
# graph_features columns that are row filters or raw attributes, not signals
GRAPH_NOT_FEATURES = tuple(f.name for f in FEATURES.values()
                           if f.group == "graph" and not f.model_input)


@dataclass
class FeatureSet:
    """Features and label at one cut-off; ``groups`` maps group name → feature columns."""

    cutoff: date
    frame: pd.DataFrame
    groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [c for cols in self.groups.values() for c in cols]

    @property
    def graph_features(self) -> list[str]:
        return list(self.groups.get("graph", []))

    @property
    def non_graph_features(self) -> list[str]:
        return [c for c in self.features if c not in set(self.graph_features)]

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.features]

    @property
    def y(self) -> np.ndarray:
        return self.frame[LABEL].to_numpy(dtype=int)

    @property
    def ids(self) -> pd.DataFrame:
        return self.frame[ID_COLUMNS]


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table_exists(con, table) and bool(
        con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)").fetchall()[0][0])


def available_cutoffs(con: duckdb.DuckDBPyConnection, history_months: int = 3) -> list[date]:
    """Month starts with ``history_months`` of data before them whose own month is in the
    data (so the one-month label is observed)."""
    sources = []
    if _has_rows(con, "usage_monthly"):
        sources.append("SELECT min(month) AS lo, max(month) AS hi FROM usage_monthly")
    if _has_rows(con, "bills"):
        sources.append("SELECT min(period) AS lo, max(period) AS hi FROM bills")
    if not sources:
        return []
    lo, hi = con.execute(f"SELECT min(lo), max(hi) FROM ({' UNION ALL '.join(sources)})"
                         ).fetchall()[0]
    if lo is None:
        return []
    out, month = [], month_start(lo, history_months)
    while month <= hi:  # the month starting at the cut-off is in the data (label known)
        out.append(month)
        month = month_start(month, 1)
    return out


def export_cutoff(con: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
    """(cut-off, as-of) for a one-shot export with no monthly history: the label month is
    the month of the last churn event and features are read as of the month after it."""
    if not _has_rows(con, "churn_events"):
        return None
    last = con.execute("SELECT max(churn_date) FROM churn_events").fetchall()[0][0]
    month = date(last.year, last.month, 1)
    return month, month_start(month, 1)


def churn_features(con: duckdb.DuckDBPyConnection, cutoff: date, *,
                   horizon_months: int = 1, with_graph: bool = True,
                   as_of: date | None = None) -> FeatureSet:
    """Features per subscriber active at ``cutoff`` and the churn label for the next
    ``horizon_months``; ``with_graph=False`` leaves the graph stage's features out.

    ``as_of`` (default: the cut-off) reads billing, service and behaviour up to a later
    date: only for one-shot exports such as IBM Telco, whose columns describe the customer
    at export time, after the churn month (see :func:`export_cutoff`).
    """
    c = sql_date(cutoff)
    f = sql_date(as_of or cutoff)
    horizon = sql_date(month_start(cutoff, horizon_months))
    feature_day = as_of or cutoff
    m1, m3 = sql_date(month_start(feature_day, -1)), sql_date(month_start(feature_day, -3))
    groups = {name: group(name) for name in ("plan", "billing", "service")}
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _cc_churned AS
        SELECT subscription_id, min(churn_date) AS churn_date FROM churn_events GROUP BY ALL
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _cc_base AS
        SELECT s.subscription_id, s.customer_id, s.msisdn, s.product_id AS plan,
               p.payment_type, p.product_type AS plan_type, p.monthly_fee,
               datediff('month', s.start_date, {c}) AS tenure_months,
               cu.customer_type, cu.region,
               datediff('year', cu.birth_date, {c}) AS age_years,
               datediff('month', cu.join_date, {c}) AS customer_tenure_months,
               coalesce(ch.churn_date >= {c} AND ch.churn_date < {horizon}, FALSE) AS {LABEL}
        FROM subscriptions s
        LEFT JOIN _cc_churned ch USING (subscription_id)
        LEFT JOIN products p ON p.product_id = s.product_id
        LEFT JOIN customers cu ON cu.customer_id = s.customer_id
        WHERE s.start_date < {c}
          AND (ch.churn_date IS NULL OR ch.churn_date >= {c})
          AND (s.end_date IS NULL OR s.end_date >= {c})
    """)
    parts = ["""SELECT b.*, count(*) OVER (PARTITION BY customer_id) AS lines FROM _cc_base b"""]
    query = f"""
        WITH base AS ({parts[0]}),
        recent_bills AS (
            SELECT subscription_id, period, total_amount, coalesce(arrears, 0) AS arrears,
                   row_number() OVER (PARTITION BY subscription_id ORDER BY period DESC) AS k
            FROM bills WHERE issue_date < {f} AND period >= {m3}
        ),
        billing AS (
            SELECT subscription_id,
                   avg(total_amount) AS arpu,
                   max(total_amount) FILTER (WHERE k = 1) AS arpu_last,
                   avg(total_amount) FILTER (WHERE k > 1) AS arpu_before,
                   max(arrears) FILTER (WHERE k = 1) AS arrears
            FROM recent_bills GROUP BY ALL
        ),
        paid AS (
            SELECT b.subscription_id, b.due_date,
                   (SELECT min(p.paid_at) FROM payments p
                    WHERE p.bill_id = b.bill_id AND p.paid_at < {f}) AS paid_at
            FROM bills b
            WHERE b.due_date IS NOT NULL AND b.due_date < {f} AND b.due_date >= {m3}
        ),
        delays AS (
            SELECT subscription_id,
                   count(*) FILTER (WHERE paid_at IS NULL OR CAST(paid_at AS DATE) > due_date)
                       AS late_payments_3m,
                   avg(greatest(datediff('day', due_date,
                                         coalesce(CAST(paid_at AS DATE), {f})), 0))
                       AS payment_delay_days
            FROM paid GROUP BY ALL
        ),
        topups AS (
            SELECT subscription_id,
                   count(*) FILTER (WHERE paid_at >= {f} - INTERVAL 90 DAY) AS topups_90d,
                   coalesce(sum(amount) FILTER (WHERE paid_at >= {f} - INTERVAL 90 DAY), 0)
                       AS topup_amount_90d,
                   datediff('day', max(paid_at), {f}) AS days_since_topup
            FROM payments WHERE bill_id IS NULL AND paid_at < {f} GROUP BY ALL
        ),
        service AS (
            SELECT customer_id,
                   count(*) FILTER (WHERE category = 'complaint'
                                    AND occurred_at >= {f} - INTERVAL 30 DAY) AS complaints_30d,
                   count(*) FILTER (WHERE category = 'complaint') AS complaints_90d,
                   count(*) FILTER (WHERE occurred_at >= {f} - INTERVAL 30 DAY) AS contacts_30d,
                   count(*) FILTER (WHERE outcome IN ('unresolved', 'escalated'))
                       AS unresolved_90d,
                   count(*) FILTER (WHERE category = 'cancellation')
                       AS cancellation_enquiries_90d
            FROM interactions
            WHERE occurred_at < {f} AND occurred_at >= {f} - INTERVAL 90 DAY
            GROUP BY ALL
        )
        SELECT base.*,
               billing.arpu, billing.arpu_last,
               billing.arpu_last / nullif(billing.arpu_before, 0) - 1 AS arpu_trend,
               billing.arpu_last / nullif(billing.arpu_before, 0) AS bill_shock,
               coalesce(billing.arrears, 0) AS arrears,
               coalesce(delays.late_payments_3m, 0) AS late_payments_3m,
               delays.payment_delay_days,
               coalesce(topups.topups_90d, 0) AS topups_90d,
               coalesce(topups.topup_amount_90d, 0) AS topup_amount_90d,
               topups.days_since_topup,
               coalesce(service.complaints_30d, 0) AS complaints_30d,
               coalesce(service.complaints_90d, 0) AS complaints_90d,
               coalesce(service.contacts_30d, 0) AS contacts_30d,
               coalesce(service.unresolved_90d, 0) AS unresolved_90d,
               coalesce(service.cancellation_enquiries_90d, 0) AS cancellation_enquiries_90d
        FROM base
        LEFT JOIN billing USING (subscription_id)
        LEFT JOIN delays USING (subscription_id)
        LEFT JOIN topups USING (subscription_id)
        LEFT JOIN service USING (customer_id)
    """
    frame = con.execute(query).df()

    if _has_rows(con, "usage_monthly"):
        # Calls with contacts who left before the cut-off stop because they left: that loss
        # is the graph features' to tell (contacts who left), not a fall in the subscriber's
        # own use, so the calls trend leaves those ties out of every month.
        lost = "SELECT NULL::VARCHAR AS msisdn, NULL::DATE AS month, 0 AS calls WHERE FALSE"
        if _has_rows(con, "call_edges"):
            window = f"month >= {m3} AND month < {f}"
            lost = f"""
                SELECT t.msisdn, t.month, sum(t.calls) AS calls FROM (
                    SELECT month, a AS msisdn, b AS other, calls_ab + calls_ba AS calls
                    FROM call_edges WHERE {window}
                    UNION ALL SELECT month, b, a, calls_ab + calls_ba
                    FROM call_edges WHERE {window}) t
                SEMI JOIN (SELECT s.msisdn FROM churn_events e
                           JOIN subscriptions s USING (subscription_id)
                           WHERE e.churn_date < {c}) gone ON gone.msisdn = t.other
                GROUP BY ALL"""
        usage = con.execute(f"""
            WITH lost AS ({lost}),
            kept AS (
                SELECT u.*, calls_out + calls_in - coalesce(lost.calls, 0) AS calls_kept
                FROM usage_monthly u LEFT JOIN lost USING (msisdn, month)
                WHERE u.month >= {m3} AND u.month < {f}
            )
            SELECT msisdn,
                   sum(calls_out) FILTER (WHERE month = {m1}) AS calls_out,
                   sum(seconds_out) FILTER (WHERE month = {m1}) / 60.0 AS minutes_out,
                   sum(sms_out) FILTER (WHERE month = {m1}) AS sms_out,
                   sum(contacts) FILTER (WHERE month = {m1}) AS contacts,
                   sum(active_days) FILTER (WHERE month = {m1}) AS active_days,
                   sum(data_mb) FILTER (WHERE month = {m1}) AS data_mb,
                   sum(night_calls) FILTER (WHERE month = {m1}) AS night_calls,
                   (coalesce(sum(calls_kept) FILTER (WHERE month = {m1}), 0) + 1)
                     / (coalesce(sum(calls_kept) FILTER (WHERE month < {m1}), 0) / 2.0
                        + 1) - 1 AS calls_trend,
                   (coalesce(sum(data_mb) FILTER (WHERE month = {m1}), 0) + 1)
                     / (coalesce(sum(data_mb) FILTER (WHERE month < {m1}), 0) / 2.0 + 1) - 1
                     AS usage_trend
            FROM kept
            GROUP BY ALL
        """).df()
        behaviour = [c for c in usage.columns if c != "msisdn"]
        frame = frame.merge(usage, on="msisdn", how="left")
        for column in behaviour:
            if column not in ("calls_trend", "usage_trend"):
                frame[column] = frame[column].fillna(0)
        if _has_rows(con, "behaviour_monthly"):
            have = set(con.execute("SELECT column_name FROM duckdb_columns() "
                                   "WHERE table_name = 'behaviour_monthly'").df()["column_name"])
            extra = [c for c in group("behaviour") if c in have and c not in behaviour]
            if extra:
                more = con.execute(f"SELECT msisdn, {', '.join(extra)} FROM behaviour_monthly "
                                   f"WHERE month = {m1}").df()
                frame = frame.merge(more, on="msisdn", how="left")
                behaviour += extra
        groups["behaviour"] = behaviour

    graph_columns: list[str] = []
    if with_graph and _has_rows(con, "graph_features"):
        table = con.execute(f"SELECT * FROM graph_features WHERE cutoff = {c}").df()
        numeric = [col for col in table.columns
                   if col not in ("cutoff", "msisdn", *GRAPH_NOT_FEATURES)
                   and not col.endswith("_id") and col not in frame.columns
                   and pd.api.types.is_numeric_dtype(table[col])]
        if len(table) and numeric:
            frame = frame.merge(table[["msisdn", *numeric]], on="msisdn", how="left")
            graph_columns += numeric
    if graph_columns:
        groups["graph"] = graph_columns

    # Drop columns that carry nothing at all here (e.g. no birth dates in this export).
    for name in list(groups):
        groups[name] = [col for col in groups[name] if frame[col].notna().any()]
    for column in CATEGORICAL:
        if column in frame.columns:
            frame[column] = frame[column].astype("string").astype(object)
    frame[LABEL] = frame[LABEL].astype(int)
    frame = frame.sort_values("subscription_id", kind="stable").reset_index(drop=True)
    for temp in ("_cc_base", "_cc_churned"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return FeatureSet(cutoff, frame, {k: v for k, v in groups.items() if v})

