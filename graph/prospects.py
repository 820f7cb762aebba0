"""Acquisition prospects: the competitors' subscribers inside our customers' call circles.

An off-net number that many of our customers call, often and both ways, is a prospect;
the customers who talk to it most are the ones who could refer it. Scored in DuckDB over
the staged edge table (``graph.callgraph.stage_call_edges``).
"""

from __future__ import annotations

from datetime import date

import duckdb

from graph.callgraph import EDGES_TABLE, NODES_TABLE, sql_date
from graph.features import replace_cutoff_rows

PROSPECTS_TABLE = "prospects"
REFERRERS_TABLE = "prospect_referrers"

#: referrers kept per prospect, strongest tie first
REFERRERS_PER_PROSPECT = 5


def _ties_sql() -> str:
    """Each tie between an on-net and an off-net number, oriented subscriber → prospect."""
    return f"""
        SELECT o.msisdn AS prospect, o.operator, s.msisdn AS referrer,
               coalesce(s.customer_id, s.msisdn) AS customer,
               CASE WHEN e.u = o.vid THEN e.calls_ba ELSE e.calls_ab END AS calls_to,
               CASE WHEN e.u = o.vid THEN e.calls_ab ELSE e.calls_ba END AS calls_from,
               e.calls_ab + e.calls_ba AS calls,
               (e.seconds_ab + e.seconds_ba) / 60.0 AS minutes,
               e.sms_ab + e.sms_ba AS sms, e.weight, e.weight_ab, e.weight_ba
        FROM {EDGES_TABLE} e
        JOIN {NODES_TABLE} nu ON nu.vid = e.u
        JOIN {NODES_TABLE} nv ON nv.vid = e.v
        JOIN {NODES_TABLE} o ON o.vid = CASE WHEN nu.on_net THEN e.v ELSE e.u END
        JOIN {NODES_TABLE} s ON s.vid = CASE WHEN nu.on_net THEN e.u ELSE e.v END
        WHERE nu.on_net <> nv.on_net
    """


def prospects_sql(cutoff: date, min_customers: int = 1) -> str:
    """Prospects ranked by ``score`` = distinct customers × (½ + ½ reciprocity) × ln(1 + calls
    + SMS): breadth first (many customers know them), then strength and two-way ties.

    ``reciprocity`` is the share of the prospect's subscriber contacts with whom it talks
    both ways.
    """
    return f"""
        WITH t AS ({_ties_sql()})
        SELECT {sql_date(cutoff)} AS cutoff, prospect AS msisdn, any_value(operator) AS operator,
               count(DISTINCT customer)::BIGINT AS distinct_customers,
               count(*)::BIGINT AS subscribers,
               sum(calls)::BIGINT AS calls, sum(minutes)::DOUBLE AS minutes,
               sum(sms)::BIGINT AS sms, sum(weight)::DOUBLE AS strength,
               avg((weight_ab > 0 AND weight_ba > 0)::INT)::DOUBLE AS reciprocity,
               (count(DISTINCT customer)
                * (0.5 + 0.5 * avg((weight_ab > 0 AND weight_ba > 0)::INT))
                * ln(1 + sum(calls) + sum(sms)))::DOUBLE AS score
        FROM t GROUP BY prospect
        HAVING count(DISTINCT customer) >= {int(min_customers)}
        ORDER BY score DESC, msisdn
    """


def referrers_sql(cutoff: date, per_prospect: int = REFERRERS_PER_PROSPECT) -> str:
    """The subscribers with the strongest ties to each prospect."""
    return f"""
        WITH t AS ({_ties_sql()})
        SELECT {sql_date(cutoff)} AS cutoff, prospect AS msisdn, referrer AS referrer_msisdn,
               weight::DOUBLE AS weight, calls::BIGINT AS calls,
               (weight_ab > 0 AND weight_ba > 0) AS reciprocal
        FROM t
        QUALIFY row_number() OVER (PARTITION BY prospect ORDER BY weight DESC, referrer)
                <= {int(per_prospect)}
        ORDER BY msisdn, weight DESC
    """


def write_prospects(con: duckdb.DuckDBPyConnection, *, cutoff: date, min_customers: int = 1,
                    per_prospect: int = REFERRERS_PER_PROSPECT) -> tuple[int, int]:
    """Replace this cut-off's rows of ``prospects`` and ``prospect_referrers``."""
    prospects = replace_cutoff_rows(con, PROSPECTS_TABLE, cutoff,
                                    prospects_sql(cutoff, min_customers))
    referrers = replace_cutoff_rows(
        con, REFERRERS_TABLE, cutoff,
        f"SELECT r.* FROM ({referrers_sql(cutoff, per_prospect)}) r "
        f"SEMI JOIN (SELECT msisdn FROM {PROSPECTS_TABLE} WHERE cutoff = {sql_date(cutoff)}) p "
        "USING (msisdn)")
    return prospects, referrers
