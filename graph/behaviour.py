"""Subscriber behaviour indicators per month, in DuckDB SQL from the staged CDRs.

The indicator set follows bandicoot (de Montjoye et al., MIT) where it applies to an
operator's CDRs; every indicator is described in ``docs/graph-features.md``. Each CDR
counts for its on-net parties: as an initiated interaction for the caller and a
received one for the callee. The computation stays in the warehouse (one SQL statement,
no Python loop over records) so it scales with DuckDB, not with the interpreter.
"""

from __future__ import annotations

from datetime import date

import duckdb

from graph.warehouse import recreate_keeping_rows, sql_date, table_exists

BEHAVIOUR_TABLE = "behaviour_monthly"

BEHAVIOUR_COLUMNS: dict[str, str] = {
    "msisdn": "VARCHAR",
    "month": "DATE",
    "active_days": "BIGINT",
    "interactions": "BIGINT",
    "contacts": "BIGINT",
    "call_contacts": "BIGINT",
    "sms_contacts": "BIGINT",
    "calls": "BIGINT",
    "calls_out": "BIGINT",
    "calls_in": "BIGINT",
    "call_seconds_total": "BIGINT",
    "call_seconds_mean": "DOUBLE",
    "sms_out": "BIGINT",
    "sms_in": "BIGINT",
    "percent_nocturnal": "DOUBLE",
    "percent_initiated_interactions": "DOUBLE",
    "percent_initiated_calls": "DOUBLE",
    "interactions_per_contact": "DOUBLE",
    "entropy_of_contacts": "DOUBLE",
    "entropy_of_contacts_normalized": "DOUBLE",
    "interevent_seconds_mean": "DOUBLE",
    "percent_out_of_network_calls": "DOUBLE",
    "percent_out_of_network_contacts": "DOUBLE",
    "percent_out_of_network_minutes": "DOUBLE",
    "roaming_share": "DOUBLE",
    "data_mb": "DOUBLE",
}


def behaviour_sql(con: duckdb.DuckDBPyConnection, *, cutoff: date,
                  since: date | None = None) -> str:
    """The SELECT computing ``behaviour_monthly`` rows for complete months before ``cutoff``.

    ``since`` (first of a month) limits the months computed, for incremental runs. Without
    a ``numbers`` table every party counts as on-net (a closed study population); without
    ``data_usage`` the data volume is NULL.
    """
    if table_exists(con, "numbers"):
        on_net_join = ("LEFT JOIN (SELECT msisdn, bool_or(on_net) AS on_net FROM numbers "
                       "GROUP BY msisdn) {alias} ON {alias}.msisdn = {col}")
        party = "coalesce({alias}.on_net, FALSE)"
    else:
        on_net_join = ""
        party = "TRUE"
    since_cond = f"AND month >= {sql_date(since)}" if since is not None else ""

    def join(alias: str, col: str) -> str:
        return on_net_join.format(alias=alias, col=col)

    def flag(alias: str) -> str:
        return party.format(alias=alias)

    if table_exists(con, "data_usage"):
        data = """
            LEFT JOIN (SELECT msisdn, date_trunc('month', usage_date)::DATE AS month,
                              sum(megabytes)::DOUBLE AS data_mb
                       FROM data_usage GROUP BY ALL) d USING (msisdn, month)"""
        data_col = "coalesce(d.data_mb, 0.0)"
    else:
        data, data_col = "", "NULL::DOUBLE"
    return f"""
        WITH c AS (
            SELECT c.caller, c.callee, c.start_time, c.duration_s, c.event_type,
                   coalesce(c.roaming, FALSE) AS roaming,
                   date_trunc('month', c.start_time)::DATE AS month,
                   {flag('oa')} AS caller_on_net, {flag('ob')} AS callee_on_net
            FROM cdrs c {join('oa', 'c.caller')} {join('ob', 'c.callee')}
        ),
        ev AS (
            SELECT caller AS msisdn, callee AS contact, callee_on_net AS contact_on_net,
                   TRUE AS initiated, start_time, duration_s, event_type, roaming, month
            FROM c WHERE caller_on_net
            UNION ALL
            SELECT callee, caller, caller_on_net, FALSE, start_time, duration_s, event_type,
                   NULL, month
            FROM c WHERE callee_on_net
        ),
        e AS (
            SELECT *, event_type = 'voice' AS is_call,
                   (hour(start_time) >= 22 OR hour(start_time) < 6) AS nocturnal
            FROM ev
            WHERE month + INTERVAL 1 MONTH <= {sql_date(cutoff)} {since_cond}
        ),
        per_contact AS (
            -- a slim pass for what needs each contact: contact counts and the entropy
            SELECT msisdn, month, contact, count(*) AS n, bool_or(is_call) AS called,
                   NOT bool_and(is_call) AS texted, bool_or(NOT contact_on_net) AS off_net
            FROM e GROUP BY ALL
        ),
        contacts AS (
            SELECT msisdn, month,
                count(*) AS contacts,
                count(*) FILTER (called) AS call_contacts,
                count(*) FILTER (texted) AS sms_contacts,
                count(*) FILTER (off_net) AS off_net_contacts,
                -- entropy H = ln N − Σ n ln n / N over the contacts' interaction counts n
                ln(sum(n)) - sum(n * ln(n)) / sum(n) AS h
            FROM per_contact GROUP BY ALL
        ),
        events AS (
            -- everything else sums over the events directly
            SELECT msisdn, month,
                bit_count(bit_or(1::BIGINT << (day(start_time) - 1))) AS active_days,
                count(*) AS interactions,
                count(*) FILTER (is_call) AS calls,
                count(*) FILTER (is_call AND initiated) AS calls_out,
                count(*) FILTER (is_call AND NOT initiated) AS calls_in,
                coalesce(sum(duration_s) FILTER (is_call), 0) AS call_seconds_total,
                coalesce(sum(duration_s) FILTER (is_call), 0)
                    / nullif(count(*) FILTER (is_call), 0) AS call_seconds_mean,
                count(*) FILTER (NOT is_call AND initiated) AS sms_out,
                count(*) FILTER (NOT is_call AND NOT initiated) AS sms_in,
                count(*) FILTER (nocturnal) / count(*) AS percent_nocturnal,
                count(*) FILTER (initiated) / count(*) AS percent_initiated_interactions,
                count(*) FILTER (is_call AND initiated) / nullif(count(*) FILTER (is_call), 0)
                    AS percent_initiated_calls,
                -- the mean gap between consecutive interactions
                epoch(max(start_time) - min(start_time)) / nullif(count(*) - 1, 0)
                    AS interevent_seconds_mean,
                count(*) FILTER (is_call AND NOT contact_on_net)
                    / nullif(count(*) FILTER (is_call), 0) AS percent_out_of_network_calls,
                coalesce(sum(duration_s) FILTER (is_call AND NOT contact_on_net), 0)
                    / nullif(coalesce(sum(duration_s) FILTER (is_call), 0), 0)
                    AS percent_out_of_network_minutes,
                count(*) FILTER (initiated AND roaming)
                    / nullif(count(*) FILTER (initiated), 0) AS roaming_share
            FROM e GROUP BY ALL
        ),
        per_subscriber AS (
            SELECT * FROM events JOIN contacts USING (msisdn, month)
        )
        SELECT a.msisdn, a.month, a.active_days::BIGINT AS active_days, a.interactions,
               a.contacts, a.call_contacts,
               a.sms_contacts, a.calls, a.calls_out, a.calls_in, a.call_seconds_total,
               a.call_seconds_mean, a.sms_out, a.sms_in, a.percent_nocturnal,
               a.percent_initiated_interactions, a.percent_initiated_calls,
               a.interactions / a.contacts AS interactions_per_contact,
               greatest(a.h, 0.0) AS entropy_of_contacts,
               CASE WHEN a.contacts > 1 THEN greatest(a.h, 0.0) / ln(a.contacts) ELSE 0.0 END
                   AS entropy_of_contacts_normalized,
               a.interevent_seconds_mean, a.percent_out_of_network_calls,
               a.off_net_contacts / a.contacts AS percent_out_of_network_contacts,
               a.percent_out_of_network_minutes, a.roaming_share, {data_col} AS data_mb
        FROM per_subscriber a {data}
    """


def ensure_behaviour_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``behaviour_monthly`` if missing, or with this version's columns.

    A table an older version wrote keeps its rows (the columns both versions have);
    every month before a cut-off is computed again when the stage runs.
    """
    cols = ", ".join(f"{name} {kind}" for name, kind in BEHAVIOUR_COLUMNS.items())
    create = f"CREATE TABLE {BEHAVIOUR_TABLE} ({cols})"
    if not table_exists(con, BEHAVIOUR_TABLE):
        con.execute(create)
        return
    present = {row[0] for row in con.execute(f"DESCRIBE {BEHAVIOUR_TABLE}").fetchall()}
    if present != set(BEHAVIOUR_COLUMNS):
        recreate_keeping_rows(con, BEHAVIOUR_TABLE, create)


def build_behaviour_monthly(con: duckdb.DuckDBPyConnection, *, cutoff: date,
                            since: date | None = None) -> int:
    """Recompute ``behaviour_monthly`` for the complete months before ``cutoff``.

    Rows of the months computed are replaced (idempotent); other months stay. Returns the
    number of rows written, 0 when the warehouse has no staged ``cdrs``.
    """
    if not table_exists(con, "cdrs"):
        return 0
    ensure_behaviour_table(con)
    select = behaviour_sql(con, cutoff=cutoff, since=since)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _behaviour AS {select}")
    con.execute(f"DELETE FROM {BEHAVIOUR_TABLE} WHERE month IN "
                "(SELECT DISTINCT month FROM _behaviour)")
    con.execute(f"INSERT INTO {BEHAVIOUR_TABLE} BY NAME SELECT * FROM _behaviour")
    rows = con.execute("SELECT count(*) FROM _behaviour").fetchall()[0][0]
    con.execute("DROP TABLE _behaviour")
    return int(rows)
