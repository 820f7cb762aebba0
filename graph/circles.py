"""Call circles: Leiden communities of the call graph with ids that last from run to run.

A circle keeps its id when most of its previous members are together again: a new
community inherits the id of the previous circle whose majority it holds (the largest
such overlap, then the best Jaccard index, when several previous circles merged into it).
Everything else gets a fresh id, never reused. Splits and merges between the two runs are
recorded in ``circle_lineage`` so analysts and campaigns can follow a circle month to month.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb

from graph.callgraph import EDGES_TABLE, NODES_TABLE
from graph.features import SUBSCRIBERS_TABLE, VERTEX_TABLE
from graph.warehouse import latest_cutoff, replace_cutoff_rows, sql_date, table_exists

CIRCLES_TABLE = "circles"
MEMBERS_TABLE = "circle_members"
LINEAGE_TABLE = "circle_lineage"

#: a circle keeps its id when more than this share of its previous members are in it
MAJORITY = 0.5
#: an overlap worth recording in the lineage: this share of the previous or the new circle
LINEAGE_SHARE = 0.2
#: at most this many influencers per circle, and at most this share of its subscribers
INFLUENCERS_PER_CIRCLE = 3
INFLUENCER_SHARE = 0.2


SIZE_BANDS: tuple[tuple[str, int], ...] = (("1-4", 1), ("5-9", 5), ("10-19", 10),
                                          ("20-49", 20), ("50+", 50))
"""Circle size bands (label, smallest size), as the report's distribution draws them."""


def size_distribution(con: duckdb.DuckDBPyConnection, cutoff: date | None = None
                      ) -> list[dict[str, Any]]:
    """Circles and their members per size band at ``cutoff`` (latest by default); empty
    when the snapshot has no circles."""
    if not table_exists(con, CIRCLES_TABLE):
        return []
    cutoff = cutoff or latest_cutoff(con, CIRCLES_TABLE)
    if cutoff is None:
        return []
    band = " ".join(f"WHEN size >= {low} THEN '{label}'"
                    for label, low in reversed(SIZE_BANDS))
    rows = {label: (circles, members) for label, circles, members in con.execute(
        f"SELECT CASE {band} END AS band, count(*), sum(size) FROM {CIRCLES_TABLE} "
        f"WHERE cutoff = ? GROUP BY 1", [cutoff]).fetchall()}
    return [{"band": label, "circles": int(rows.get(label, (0, 0))[0]),
             "members": int(rows.get(label, (0, 0))[1] or 0)} for label, _ in SIZE_BANDS]


def previous_circle_cutoff(con: duckdb.DuckDBPyConnection, cutoff: date) -> date | None:
    """The latest cut-off before ``cutoff`` that has circles, or None."""
    return latest_cutoff(con, MEMBERS_TABLE, at_most=cutoff - timedelta(days=1))


def assign_circle_ids(
    con: duckdb.DuckDBPyConnection,
    *,
    cutoff: date,
    previous_cutoff: date | None,
    majority: float = MAJORITY,
    lineage_share: float = LINEAGE_SHARE,
) -> dict[str, int]:
    """Give each community of ``graph_vertex`` a stable ``circle_id``; write the lineage.

    Reads the communities from the temporary ``graph_vertex.community`` and the previous
    run from ``circle_members`` at ``previous_cutoff``; fills ``graph_vertex.circle_id``
    and replaces this cut-off's rows of ``circle_lineage``. Returns counts by lineage kind
    (``continued``, ``split``, ``merged``) and ``new`` circles.
    """
    cut = sql_date(cutoff)
    has_previous = previous_cutoff is not None and table_exists(con, MEMBERS_TABLE)
    max_id = 0
    if table_exists(con, CIRCLES_TABLE):
        max_id = con.execute(
            f"SELECT coalesce(max(circle_id), 0) FROM {CIRCLES_TABLE} WHERE cutoff <> {cut}"
        ).fetchall()[0][0]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _circle_cur AS
        SELECT x.community, n.msisdn FROM {VERTEX_TABLE} x JOIN {NODES_TABLE} n USING (vid)
        WHERE x.community >= 0
    """)
    if has_previous:
        assert previous_cutoff is not None
        prev = (f"SELECT circle_id, msisdn FROM {MEMBERS_TABLE} "
                f"WHERE cutoff = {sql_date(previous_cutoff)}")
    else:
        prev = "SELECT NULL::BIGINT AS circle_id, NULL::VARCHAR AS msisdn WHERE FALSE"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _circle_pairs AS
        WITH prev AS ({prev}),
        psize AS (SELECT circle_id, count(*) AS prev_size FROM prev GROUP BY ALL),
        csize AS (SELECT community, count(*) AS size FROM _circle_cur GROUP BY ALL),
        ov AS (SELECT p.circle_id, c.community, count(*) AS overlap
               FROM prev p JOIN _circle_cur c USING (msisdn) GROUP BY ALL)
        SELECT ov.*, prev_size, size,
               overlap::DOUBLE / (prev_size + size - overlap) AS jaccard
        FROM ov JOIN psize USING (circle_id) JOIN csize USING (community)
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _circle_ids AS
        WITH kept AS (
            SELECT community, circle_id FROM (
                SELECT *, row_number() OVER (PARTITION BY community
                                             ORDER BY overlap DESC, jaccard DESC, circle_id) AS r
                FROM _circle_pairs WHERE overlap > {float(majority)} * prev_size)
            WHERE r = 1
        ),
        communities AS (SELECT DISTINCT community FROM _circle_cur)
        SELECT c.community,
               coalesce(k.circle_id, {int(max_id)} + row_number() OVER (
                   PARTITION BY k.circle_id IS NULL ORDER BY c.community))::BIGINT AS circle_id,
               k.circle_id IS NULL AS is_new
        FROM communities c LEFT JOIN kept k USING (community)
    """)
    con.execute(f"ALTER TABLE {VERTEX_TABLE} ADD COLUMN IF NOT EXISTS circle_id BIGINT")
    con.execute(f"""
        UPDATE {VERTEX_TABLE} SET circle_id = i.circle_id
        FROM _circle_ids i WHERE i.community = {VERTEX_TABLE}.community
    """)
    prev_literal = sql_date(previous_cutoff) if has_previous and previous_cutoff else "NULL"
    lineage = f"""
        SELECT {cut} AS cutoff, {prev_literal}::DATE AS previous_cutoff,
               p.circle_id AS previous_circle_id, i.circle_id,
               CASE WHEN i.circle_id = p.circle_id THEN 'continued'
                    WHEN p.overlap > {float(majority)} * p.prev_size THEN 'merged'
                    ELSE 'split' END AS kind,
               p.overlap::BIGINT AS overlap, p.jaccard, p.prev_size::BIGINT AS previous_size,
               p.size::BIGINT AS size
        FROM _circle_pairs p JOIN _circle_ids i USING (community)
        WHERE p.overlap >= {float(lineage_share)} * p.prev_size
           OR p.overlap >= {float(lineage_share)} * p.size
        ORDER BY p.circle_id, i.circle_id
    """
    replace_cutoff_rows(con, LINEAGE_TABLE, cutoff, lineage)
    counts = dict(con.execute(
        f"SELECT kind, count(*) FROM {LINEAGE_TABLE} WHERE cutoff = {cut} GROUP BY ALL"
    ).fetchall())
    counts["new"] = con.execute("SELECT count(*) FROM _circle_ids WHERE is_new").fetchall()[0][0]
    for name in ("_circle_cur", "_circle_pairs", "_circle_ids"):
        con.execute(f"DROP TABLE {name}")
    return {k: int(v) for k, v in counts.items()}


def circles_sql(cutoff: date) -> str:
    """Per-circle figures (needs the staged tables and ``graph_vertex.circle_id``)."""
    cut = sql_date(cutoff)
    return f"""
        WITH m AS (
            SELECT x.vid, x.circle_id, x.pagerank, s.on_net, s.plan, s.arpu, s.churn_date
            FROM {VERTEX_TABLE} x JOIN {SUBSCRIBERS_TABLE} s USING (vid)
            WHERE x.circle_id IS NOT NULL
        ),
        e AS (
            SELECT cu.circle_id AS cu, cv.circle_id AS cv, e.weight,
                   e.calls_ab + e.calls_ba AS calls
            FROM {EDGES_TABLE} e
            JOIN {VERTEX_TABLE} cu ON cu.vid = e.u JOIN {VERTEX_TABLE} cv ON cv.vid = e.v
        ),
        inside AS (
            SELECT cu AS circle_id, count(*) AS ties, sum(weight) AS w, sum(calls) AS calls
            FROM e WHERE cu = cv GROUP BY ALL
        ),
        outside AS (
            SELECT circle_id, sum(weight) AS w, sum(calls) AS calls FROM (
                SELECT cu AS circle_id, weight, calls FROM e WHERE cu <> cv
                UNION ALL SELECT cv, weight, calls FROM e WHERE cu <> cv)
            GROUP BY ALL
        ),
        plans AS (
            SELECT circle_id, plan, n, n::DOUBLE / sum(n) OVER (PARTITION BY circle_id) AS share,
                   row_number() OVER (PARTITION BY circle_id ORDER BY n DESC, plan) AS r
            FROM (SELECT circle_id, plan, count(*) AS n FROM m
                  WHERE on_net AND plan IS NOT NULL GROUP BY ALL)
        ),
        base AS (
            SELECT circle_id, count(*) AS size, count(*) FILTER (on_net) AS on_net_members,
                   count(*) FILTER (on_net AND churn_date IS NOT NULL) AS churned_members,
                   sum(arpu) AS total_value, avg(arpu) AS mean_value
            FROM m GROUP BY ALL
        )
        SELECT {cut} AS cutoff, b.circle_id, b.size::BIGINT AS size,
               b.on_net_members::BIGINT AS on_net_members,
               (1 - b.on_net_members / b.size)::DOUBLE AS off_net_share,
               coalesce(i.ties, 0)::BIGINT AS internal_ties,
               CASE WHEN b.size > 1 THEN 2.0 * coalesce(i.ties, 0) / (b.size * (b.size - 1))
                    ELSE 0 END::DOUBLE AS density,
               coalesce(i.w, 0)::DOUBLE AS internal_weight,
               coalesce(o.w, 0)::DOUBLE AS external_weight,
               coalesce(i.w / nullif(coalesce(i.w, 0) + coalesce(o.w, 0), 0), 0)::DOUBLE
                   AS internal_share,
               coalesce(i.calls::DOUBLE
                        / nullif(coalesce(i.calls, 0) + coalesce(o.calls, 0), 0), 0)::DOUBLE
                   AS internal_call_share,
               b.churned_members::BIGINT AS churned_members,
               (b.churned_members / nullif(b.on_net_members, 0))::DOUBLE AS churn_rate,
               b.total_value::DOUBLE AS total_value, b.mean_value::DOUBLE AS mean_value,
               p.plan AS dominant_plan, p.share::DOUBLE AS dominant_plan_share
        FROM base b
        LEFT JOIN inside i USING (circle_id)
        LEFT JOIN outside o USING (circle_id)
        LEFT JOIN plans p ON p.circle_id = b.circle_id AND p.r = 1
        ORDER BY b.circle_id
    """


def members_sql(cutoff: date, influencers: int = INFLUENCERS_PER_CIRCLE,
                influencer_share: float = INFLUENCER_SHARE) -> str:
    """Circle members with PageRank; influencers are the highest-PageRank subscribers still
    on the network (at most ``influencers`` and ``influencer_share`` of them, at least one)."""
    return f"""
        WITH m AS (
            SELECT x.circle_id, s.msisdn, s.on_net, x.pagerank,
                   s.on_net AND s.churn_date IS NULL AS eligible
            FROM {VERTEX_TABLE} x JOIN {SUBSCRIBERS_TABLE} s USING (vid)
            WHERE x.circle_id IS NOT NULL
        ),
        ranked AS (
            SELECT *, CASE WHEN eligible THEN row_number() OVER (
                          PARTITION BY circle_id, eligible ORDER BY pagerank DESC, msisdn)
                      END AS influence_rank,
                   count(*) FILTER (eligible) OVER (PARTITION BY circle_id) AS subscribers
            FROM m
        )
        SELECT {sql_date(cutoff)} AS cutoff, circle_id, msisdn, on_net, pagerank,
               coalesce(influence_rank <= greatest(1, least({int(influencers)},
                            floor({float(influencer_share)} * subscribers))), FALSE)
                   AS is_influencer
        FROM ranked ORDER BY circle_id, pagerank DESC, msisdn
    """


def write_circles(con: duckdb.DuckDBPyConnection, *, cutoff: date) -> tuple[int, int]:
    """Replace this cut-off's rows of ``circles`` and ``circle_members``."""
    circles = replace_cutoff_rows(con, CIRCLES_TABLE, cutoff, circles_sql(cutoff))
    members = replace_cutoff_rows(con, MEMBERS_TABLE, cutoff, members_sql(cutoff))
    return circles, members


def circle_summaries(con: duckdb.DuckDBPyConnection, *, cutoff: date, min_size: int = 3
                     ) -> list[dict[str, Any]]:
    """Per-circle figures and influencers as plain rows, for the knowledge graph.

    Circles smaller than ``min_size`` (pairs, lone numbers) are left out: they are ties,
    not circles an analyst would follow.
    """
    cut = sql_date(cutoff)
    cur = con.execute(f"""
        SELECT c.*, list(m.msisdn ORDER BY m.pagerank DESC) FILTER (m.is_influencer)
                        AS influencers
        FROM {CIRCLES_TABLE} c
        LEFT JOIN {MEMBERS_TABLE} m ON m.cutoff = c.cutoff AND m.circle_id = c.circle_id
        WHERE c.cutoff = {cut} AND c.size >= {int(min_size)}
        GROUP BY ALL ORDER BY c.size DESC, c.circle_id
    """)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
