"""Aggregates rebuilt from the staged tables: numbers, call edges, monthly usage.

Raw CDRs stay in the warehouse; the call graph, the knowledge graph and the
models read these per-number and per-pair tables instead. All of it is SQL; only
the carrier of each *new* number is looked up in Python (``phonenumbers``), and
kept in ``_number_operators`` so later runs look up only numbers never seen.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

import duckdb
import phonenumbers
from phonenumbers import carrier

from ingest.load import ensure_tables
from ingest.validate import e164_number

NIGHT = "(hour(start_time) >= 22 OR hour(start_time) < 6)"
"""Night calls: 22:00 to 06:00 local time."""


@dataclass
class AggregateReport:
    numbers: int
    on_net: int
    off_net: int
    call_edges: int
    usage_rows: int
    seconds: dict[str, float] = field(default_factory=dict)
    """Time of each table's rebuild."""


def build_aggregates(con: duckdb.DuckDBPyConnection, *,
                     computed: Collection[str] = ()) -> AggregateReport:
    """Rebuild ``numbers``, ``call_edges`` and ``usage_monthly`` (docs/warehouse.md).

    ``computed`` names the tables another engine has just written (``call_edges``,
    ``usage_monthly``: the Spark engine's); they are kept, and ``numbers`` is built from
    the ``call_edges`` there are.
    """
    if unknown := set(computed) - {"call_edges", "usage_monthly"}:
        raise ValueError(f"build_aggregates: cannot take {sorted(unknown)} as computed")
    ensure_tables(con)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _on_net AS
        SELECT msisdn, subscription_id, customer_id, start_date, end_date FROM subscriptions
        WHERE msisdn IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY msisdn
                                   ORDER BY status = 'terminated', start_date DESC) = 1
    """)
    seconds: dict[str, float] = {}
    if "call_edges" in computed:
        # what numbers reads of the edges; usage reads _days too, so it is computed as well
        if "usage_monthly" not in computed:
            raise ValueError("build_aggregates: usage_monthly needs this engine's edges")
        con.execute("CREATE OR REPLACE TEMP VIEW _edges AS "
                    "SELECT a, b, first_contact, last_contact FROM call_edges")
    for table, build in (("call_edges", _build_call_edges), ("numbers", _build_numbers),
                         ("usage_monthly", _build_usage)):
        if table in computed:
            continue
        started = time.perf_counter()
        build(con)
        seconds[table] = time.perf_counter() - started
    edges_kind = "VIEW" if "call_edges" in computed else "TABLE"
    con.execute(f"DROP TABLE _on_net; DROP {edges_kind} _edges")
    # fetchall, not fetchone: DuckDB 2.0 keeps a result open until a fetch comes back empty
    ((numbers, on_net),) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE on_net) FROM numbers").fetchall()
    ((edges,),) = con.execute("SELECT count(*) FROM call_edges").fetchall()
    ((usage,),) = con.execute("SELECT count(*) FROM usage_monthly").fetchall()
    return AggregateReport(numbers, on_net, numbers - on_net, edges, usage, seconds)


def _build_numbers(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _seen AS
        SELECT msisdn, min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM (SELECT a AS msisdn, first_contact AS first_seen, last_contact AS last_seen
              FROM _edges
              UNION ALL
              SELECT b, first_contact, last_contact FROM _edges
              UNION ALL
              SELECT caller, start_time, start_time FROM cdrs WHERE caller = callee)
        GROUP BY msisdn
    """)
    _lookup_operators(con)
    con.execute("""
        CREATE OR REPLACE TABLE numbers AS
        SELECT coalesce(s.msisdn, c.msisdn) AS msisdn,
               s.msisdn IS NOT NULL AS on_net,
               o.operator,
               s.subscription_id,
               s.customer_id,
               least(c.first_seen, CAST(s.start_date AS TIMESTAMP)) AS first_seen,
               greatest(c.last_seen, CAST(coalesce(s.end_date, s.start_date) AS TIMESTAMP))
                   AS last_seen
        FROM _on_net s
        FULL JOIN _seen c ON c.msisdn = s.msisdn
        LEFT JOIN _number_operators o ON o.msisdn = coalesce(s.msisdn, c.msisdn)
        ORDER BY msisdn
    """)
    con.execute("DROP TABLE _seen")


def _lookup_operators(con: duckdb.DuckDBPyConnection) -> None:
    """Carrier by number range for numbers not looked up before."""
    con.execute("CREATE TABLE IF NOT EXISTS _number_operators (msisdn VARCHAR, operator VARCHAR)")
    fresh = [row[0] for row in con.execute("""
        SELECT msisdn FROM (SELECT msisdn FROM _on_net UNION SELECT msisdn FROM _seen)
        WHERE msisdn NOT IN (SELECT msisdn FROM _number_operators)
    """).fetchall()]
    if not fresh:
        return
    import pyarrow as pa

    batch = pa.table({"msisdn": pa.array(fresh, pa.string()),
                      "operator": pa.array([operator_of(n) for n in fresh], pa.string())})
    con.register("_operator_batch", batch)
    try:
        con.execute("INSERT INTO _number_operators SELECT msisdn, operator FROM _operator_batch")
    finally:
        con.unregister("_operator_batch")


def operator_of(msisdn: str) -> str | None:
    """Original carrier of a mobile number's range (English name), None if unknown."""
    try:
        name = carrier.name_for_number(e164_number(msisdn), "en")
    except (phonenumbers.NumberParseException, ValueError):
        return None
    return name or None


def _build_call_edges(con: duckdb.DuckDBPyConnection) -> None:
    """The one pass over the CDRs: per month and pair, plus the days each pair was in touch.

    CDRs are first summed per month and direction (caller, callee, as written) with
    plain aggregates; the directions of a pair are then folded into one edge. The
    first pass reads every CDR once and keys on the two numbers as they are, instead
    of on their least/greatest with a filter per direction; the fold reads a few
    rows per pair. ``_days`` (bit d-1 set for day d of the month) and
    ``_roaming_ab`` (roaming calls made by ``a``) let monthly usage count active
    days and roaming calls from the edges instead of reading the CDRs again.
    """
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _edges AS
        WITH directed AS (
            SELECT CAST(date_trunc('month', start_time) AS DATE) AS month, caller, callee,
                   count(*) FILTER (WHERE event_type = 'voice') AS calls,
                   coalesce(sum(duration_s) FILTER (WHERE event_type = 'voice'), 0)
                       AS seconds,
                   count(*) FILTER (WHERE event_type = 'sms') AS sms,
                   count(*) FILTER (WHERE event_type = 'voice' AND {NIGHT}) AS night_calls,
                   count(*) FILTER (WHERE event_type = 'voice' AND roaming) AS roaming_calls,
                   min(start_time) AS first_contact,
                   max(start_time) AS last_contact,
                   bit_or(CAST(1 AS INTEGER) << (day(start_time) - 1)) AS _days
            FROM cdrs
            WHERE caller <> callee
            GROUP BY ALL
        )
        SELECT month,
               least(caller, callee) AS a,
               greatest(caller, callee) AS b,
               sum(CASE WHEN caller < callee THEN calls ELSE 0 END)::BIGINT AS calls_ab,
               sum(CASE WHEN caller > callee THEN calls ELSE 0 END)::BIGINT AS calls_ba,
               sum(CASE WHEN caller < callee THEN seconds ELSE 0 END)::BIGINT AS seconds_ab,
               sum(CASE WHEN caller > callee THEN seconds ELSE 0 END)::BIGINT AS seconds_ba,
               sum(CASE WHEN caller < callee THEN sms ELSE 0 END)::BIGINT AS sms_ab,
               sum(CASE WHEN caller > callee THEN sms ELSE 0 END)::BIGINT AS sms_ba,
               sum(night_calls)::BIGINT AS night_calls,
               sum(roaming_calls)::BIGINT AS roaming_calls,
               sum(CASE WHEN caller < callee THEN roaming_calls ELSE 0 END)::BIGINT
                   AS _roaming_ab,
               min(first_contact) AS first_contact,
               max(last_contact) AS last_contact,
               bit_or(_days) AS _days
        FROM directed
        GROUP BY ALL
    """)
    con.execute("CREATE OR REPLACE TABLE call_edges AS "
                "SELECT * EXCLUDE (_days, _roaming_ab) FROM _edges")


def _build_usage(con: duckdb.DuckDBPyConnection) -> None:
    """Per on-net number and month, from the edges (far fewer rows than CDRs).

    Roaming calls are those made while roaming (the A party's flag). Calls to
    oneself are not counted.
    """
    con.execute("""
        CREATE OR REPLACE TABLE usage_monthly AS
        WITH sides AS (
            SELECT a AS msisdn, month, calls_ab AS calls_out, calls_ba AS calls_in,
                   seconds_ab AS seconds_out, seconds_ba AS seconds_in, sms_ab AS sms_out,
                   sms_ba AS sms_in, night_calls, _roaming_ab AS roaming_calls, _days
            FROM _edges WHERE a IN (SELECT msisdn FROM _on_net)
            UNION ALL
            SELECT b, month, calls_ba, calls_ab, seconds_ba, seconds_ab, sms_ba, sms_ab,
                   night_calls, roaming_calls - _roaming_ab, _days
            FROM _edges WHERE b IN (SELECT msisdn FROM _on_net)
        ),
        calls AS (
            SELECT msisdn, month, sum(calls_out) AS calls_out, sum(calls_in) AS calls_in,
                   sum(seconds_out) AS seconds_out, sum(seconds_in) AS seconds_in,
                   sum(sms_out) AS sms_out, sum(sms_in) AS sms_in, count(*) AS contacts,
                   sum(night_calls) AS night_calls, sum(roaming_calls) AS roaming_calls,
                   bit_or(_days) AS _days
            FROM sides GROUP BY ALL
        ),
        data AS (
            SELECT msisdn, CAST(date_trunc('month', usage_date) AS DATE) AS month,
                   sum(megabytes) AS data_mb,
                   bit_or(CASE WHEN megabytes > 0
                               THEN CAST(1 AS INTEGER) << (day(usage_date) - 1) ELSE 0 END)
                       AS _days
            FROM data_usage WHERE msisdn IN (SELECT msisdn FROM _on_net)
            GROUP BY ALL
        )
        SELECT msisdn, month,
               coalesce(c.calls_out, 0) AS calls_out, coalesce(c.calls_in, 0) AS calls_in,
               coalesce(c.seconds_out, 0) AS seconds_out,
               coalesce(c.seconds_in, 0) AS seconds_in,
               coalesce(c.sms_out, 0) AS sms_out, coalesce(c.sms_in, 0) AS sms_in,
               coalesce(c.contacts, 0) AS contacts,
               CAST(bit_count(coalesce(c._days, 0) | coalesce(u._days, 0)) AS BIGINT)
                   AS active_days,
               coalesce(c.night_calls, 0) AS night_calls,
               coalesce(c.roaming_calls, 0) AS roaming_calls,
               coalesce(u.data_mb, 0) AS data_mb
        FROM calls c
        FULL JOIN data u USING (msisdn, month)
        ORDER BY msisdn, month
    """)
