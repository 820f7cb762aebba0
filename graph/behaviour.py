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
                  since: date | None = None, months: list[date] | None = None,
                  only: str | None = None) -> str:
    """The SELECT computing ``behaviour_monthly`` rows for complete months before ``cutoff``.

    ``since`` (first of a month) limits the months computed, for incremental runs, and so
    does a list of ``months``; ``only`` names a table of ``(msisdn, month)`` to compute
    the rows of (a row depends on its subscriber's events alone). Without a ``numbers``
    table every party counts as on-net (a closed study population); without
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
    if months is not None:
        since_cond += f" AND month IN ({', '.join(sql_date(m) for m in months) or 'NULL'})"
    only_join = f"SEMI JOIN {only} USING (msisdn, month)" if only is not None else ""

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
            FROM ev {only_join}
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
        forget_behaviour_inputs(con)
        return
    present = {row[0] for row in con.execute(f"DESCRIBE {BEHAVIOUR_TABLE}").fetchall()}
    if present != set(BEHAVIOUR_COLUMNS):
        recreate_keeping_rows(con, BEHAVIOUR_TABLE, create)
        forget_behaviour_inputs(con)


BEHAVIOUR_INPUTS_TABLE = "_behaviour_inputs"
"""Per month computed: a fingerprint of its staged CDRs and data usage."""
BEHAVIOUR_ON_NET_TABLE = "_behaviour_on_net"
"""The numbers that were on-net when the stored months were computed."""


def forget_behaviour_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Make the next build compute every month (after a change of the indicators)."""
    for table in (BEHAVIOUR_INPUTS_TABLE, BEHAVIOUR_ON_NET_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _month_inputs(con: duckdb.DuckDBPyConnection, cutoff: date) -> None:
    """``_inputs(month, fingerprint)``: what each complete month's indicators read.

    A fingerprint of the rows themselves (count and hashes of CDRs and data usage), so a
    reloaded or late file that touches a month makes it computed again, whatever layout
    brought the rows.
    """
    before = f"{sql_date(cutoff)}"
    usage = ""
    if table_exists(con, "data_usage"):
        usage = f"""UNION ALL
            SELECT date_trunc('month', usage_date)::DATE, 'u',
                   hash(msisdn, usage_date, megabytes)
            FROM data_usage
            WHERE date_trunc('month', usage_date) + INTERVAL 1 MONTH <= {before}"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _inputs AS
        SELECT month, md5(string_agg(kind || ':' || n || ':' || x || ':' || s, ',' ORDER BY kind))
                   AS fingerprint
        FROM (SELECT month, kind, count(*) AS n, bit_xor(h) AS x, sum(h::HUGEINT) AS s
              FROM (SELECT date_trunc('month', start_time)::DATE AS month, 'c' AS kind,
                           hash(caller, callee, start_time, duration_s, event_type, roaming)
                               AS h
                    FROM cdrs
                    WHERE date_trunc('month', start_time) + INTERVAL 1 MONTH <= {before}
                    {usage})
              GROUP BY ALL)
        GROUP BY month""")


def _on_net_numbers_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """The on-net numbers behaviour reads, or None when every party counts as on-net."""
    if not table_exists(con, "numbers"):
        return None
    return "SELECT msisdn FROM numbers GROUP BY msisdn HAVING bool_or(on_net)"


def build_behaviour_monthly(con: duckdb.DuckDBPyConnection, *, cutoff: date,
                            since: date | None = None) -> int:
    """Bring ``behaviour_monthly`` up to date for the complete months before ``cutoff``.

    Computed: the months not computed yet, those whose CDRs or data usage changed, and,
    in the other months, the rows of the numbers whose on-net status changed since
    (and of their contacts that month), so a periodic run computes its new month and
    what changed, and the rows equal a computation of every month at once. ``since``
    computes every month from that one on regardless. Other months stay. Returns the
    rows the months before ``cutoff`` hold, 0 when the warehouse has no staged ``cdrs``.
    """
    if not table_exists(con, "cdrs"):
        return 0
    ensure_behaviour_table(con)
    _month_inputs(con, cutoff)
    on_net = _on_net_numbers_sql(con)
    con.execute("CREATE OR REPLACE TEMP TABLE _on_net_now AS "
                + (on_net or "SELECT NULL::VARCHAR AS msisdn WHERE FALSE"))
    known = table_exists(con, BEHAVIOUR_INPUTS_TABLE) and table_exists(
        con, BEHAVIOUR_ON_NET_TABLE)
    if since is not None:
        stale = "SELECT month FROM _inputs WHERE month >= " + sql_date(since)
    elif known:
        stale = (f"SELECT month FROM (SELECT month, fingerprint FROM _inputs EXCEPT "
                 f"SELECT month, fingerprint FROM {BEHAVIOUR_INPUTS_TABLE})")
    else:
        stale = "SELECT month FROM _inputs"
    months = [row[0] for row in con.execute(f"{stale} ORDER BY 1").fetchall()]
    if months:
        _replace_months(con, behaviour_sql(con, cutoff=cutoff, months=months), months)
    if known and on_net is not None:
        _replace_changed_status(con, cutoff, months)
    con.execute(f"CREATE TABLE IF NOT EXISTS {BEHAVIOUR_INPUTS_TABLE} "
                "(month DATE, fingerprint VARCHAR)")
    con.execute(f"DELETE FROM {BEHAVIOUR_INPUTS_TABLE} WHERE month IN "
                "(SELECT month FROM _inputs)")
    con.execute(f"INSERT INTO {BEHAVIOUR_INPUTS_TABLE} SELECT month, fingerprint FROM _inputs")
    con.execute(f"CREATE OR REPLACE TABLE {BEHAVIOUR_ON_NET_TABLE} AS "
                "SELECT msisdn FROM _on_net_now")
    con.execute("DROP TABLE _inputs; DROP TABLE _on_net_now")
    ((rows,),) = con.execute(f"SELECT count(*) FROM {BEHAVIOUR_TABLE} "
                             f"WHERE month + INTERVAL 1 MONTH <= {sql_date(cutoff)}").fetchall()
    return int(rows)


def _replace_months(con: duckdb.DuckDBPyConnection, select: str, months: list[date]) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _behaviour AS {select}")
    listed = ", ".join(sql_date(m) for m in months)
    con.execute(f"DELETE FROM {BEHAVIOUR_TABLE} WHERE month IN ({listed})")
    con.execute(f"INSERT INTO {BEHAVIOUR_TABLE} BY NAME SELECT * FROM _behaviour")
    con.execute("DROP TABLE _behaviour")


def _replace_changed_status(con: duckdb.DuckDBPyConnection, cutoff: date,
                            computed: list[date]) -> None:
    """Recompute, in the months kept, the rows a change of on-net status touches.

    A row reads its subscriber's own status (a row or none) and its contacts' (on-net or
    off-net contacts): the numbers whose status changed and their contacts that month.
    """
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _changed AS
        (SELECT msisdn FROM _on_net_now EXCEPT SELECT msisdn FROM {BEHAVIOUR_ON_NET_TABLE})
        UNION (SELECT msisdn FROM {BEHAVIOUR_ON_NET_TABLE} EXCEPT SELECT msisdn FROM _on_net_now)
    """)
    kept = [row[0] for row in con.execute(
        "SELECT month FROM _inputs ORDER BY 1").fetchall() if row[0] not in set(computed)]
    if not kept or not con.execute("SELECT count(*) FROM _changed").fetchall()[0][0]:
        con.execute("DROP TABLE _changed")
        return
    listed = ", ".join(sql_date(m) for m in kept)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _touched AS
        WITH c AS (SELECT caller, callee, date_trunc('month', start_time)::DATE AS month
                   FROM cdrs WHERE date_trunc('month', start_time)::DATE IN ({listed}))
        SELECT DISTINCT msisdn, month FROM (
            SELECT caller AS msisdn, month FROM c WHERE callee IN (SELECT msisdn FROM _changed)
            UNION ALL
            SELECT callee, month FROM c WHERE caller IN (SELECT msisdn FROM _changed)
            UNION ALL
            SELECT msisdn, month FROM _changed, (SELECT DISTINCT month FROM c))""")
    con.execute("CREATE OR REPLACE TEMP TABLE _behaviour AS "
                + behaviour_sql(con, cutoff=cutoff, months=kept, only="_touched"))
    con.execute(f"DELETE FROM {BEHAVIOUR_TABLE} b USING _touched t "
                "WHERE b.msisdn = t.msisdn AND b.month = t.month")
    con.execute(f"INSERT INTO {BEHAVIOUR_TABLE} BY NAME SELECT * FROM _behaviour")
    con.execute("DROP TABLE _behaviour; DROP TABLE _touched; DROP TABLE _changed")
