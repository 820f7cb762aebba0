"""Acquisition prospects: the competitors' subscribers inside our customers' call circles.

An off-net number that many of our customers call, often and both ways, is a prospect;
the customers who talk to it most are the ones who could refer it. Scored in DuckDB over
the staged edge table (``graph.callgraph.stage_call_edges``).
"""

from __future__ import annotations

from datetime import date

import duckdb

from graph.callgraph import EDGES_TABLE, NODES_TABLE
from graph.warehouse import replace_cutoff_rows, sql_date

PROSPECTS_TABLE = "prospects"
REFERRERS_TABLE = "prospect_referrers"

#: referrers kept per prospect, strongest tie first
REFERRERS_PER_PROSPECT = 5


TIES_TABLE = "graph_prospect_ties"  # temporary: subscriber–prospect ties of the cut-off


def stage_ties(con: duckdb.DuckDBPyConnection) -> None:
    """Each tie between an on-net and an off-net number, oriented subscriber → prospect,
    into the temporary ``graph_prospect_ties`` (read twice: prospects and referrers)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {TIES_TABLE} AS
        SELECT CASE WHEN nu.on_net THEN nv.msisdn ELSE nu.msisdn END AS prospect,
               CASE WHEN nu.on_net THEN nv.operator ELSE nu.operator END AS operator,
               CASE WHEN nu.on_net THEN nu.msisdn ELSE nv.msisdn END AS referrer,
               coalesce(CASE WHEN nu.on_net THEN nu.customer_id ELSE nv.customer_id END,
                        CASE WHEN nu.on_net THEN nu.msisdn ELSE nv.msisdn END) AS customer,
               e.calls_ab + e.calls_ba AS calls,
               (e.seconds_ab + e.seconds_ba) / 60.0 AS minutes,
               e.sms_ab + e.sms_ba AS sms, e.weight,
               e.weight_ab > 0 AND e.weight_ba > 0 AS reciprocal
        FROM {EDGES_TABLE} e
        JOIN {NODES_TABLE} nu ON nu.vid = e.u
        JOIN {NODES_TABLE} nv ON nv.vid = e.v
        WHERE nu.on_net <> nv.on_net
    """)


def prospects_sql(cutoff: date, min_customers: int = 1) -> str:
    """Prospects ranked by ``score`` = distinct customers × (½ + ½ reciprocity) × ln(1 + calls
    + SMS): breadth first (many customers know them), then strength and two-way ties.

    ``reciprocity`` is the share of the prospect's subscriber contacts with whom it talks
    both ways. Reads the ties staged by :func:`stage_ties`.
    """
    return f"""
        SELECT {sql_date(cutoff)} AS cutoff, prospect AS msisdn, any_value(operator) AS operator,
               count(DISTINCT customer)::BIGINT AS distinct_customers,
               count(*)::BIGINT AS subscribers,
               sum(calls)::BIGINT AS calls, sum(minutes)::DOUBLE AS minutes,
               sum(sms)::BIGINT AS sms, sum(weight)::DOUBLE AS strength,
               avg(reciprocal::INT)::DOUBLE AS reciprocity,
               (count(DISTINCT customer) * (0.5 + 0.5 * avg(reciprocal::INT))
                * ln(1 + sum(calls) + sum(sms)))::DOUBLE AS score
        FROM {TIES_TABLE} GROUP BY prospect
        HAVING count(DISTINCT customer) >= {int(min_customers)}
        ORDER BY score DESC, msisdn
    """


def referrers_sql(cutoff: date, per_prospect: int = REFERRERS_PER_PROSPECT) -> str:
    """The subscribers with the strongest ties to each prospect (of this cut-off's
    ``prospects`` rows)."""
    return f"""
        SELECT {sql_date(cutoff)} AS cutoff, t.prospect AS msisdn, t.referrer AS referrer_msisdn,
               t.weight::DOUBLE AS weight, t.calls::BIGINT AS calls, t.reciprocal
        FROM {TIES_TABLE} t
        SEMI JOIN (SELECT msisdn FROM {PROSPECTS_TABLE} WHERE cutoff = {sql_date(cutoff)}) p
            ON p.msisdn = t.prospect
        QUALIFY row_number() OVER (PARTITION BY t.prospect ORDER BY t.weight DESC, t.referrer)
                <= {int(per_prospect)}
        ORDER BY msisdn, weight DESC
    """


def write_prospects(con: duckdb.DuckDBPyConnection, *, cutoff: date, min_customers: int = 1,
                    per_prospect: int = REFERRERS_PER_PROSPECT) -> tuple[int, int]:
    """Replace this cut-off's rows of ``prospects`` and ``prospect_referrers``."""
    stage_ties(con)
    prospects = replace_cutoff_rows(con, PROSPECTS_TABLE, cutoff,
                                    prospects_sql(cutoff, min_customers))
    referrers = replace_cutoff_rows(con, REFERRERS_TABLE, cutoff,
                                    referrers_sql(cutoff, per_prospect))
    con.execute(f"DROP TABLE {TIES_TABLE}")
    return prospects, referrers
