"""The call graph of a snapshot, as of a cut-off date.

Subscribers and the off-net numbers they talk to are nodes; an edge joins two numbers
that called or texted each other in the complete months before the cut-off. Two forms:

* :func:`call_graph` — a NetworkX graph an analyst can take into a notebook;
* :func:`stage_call_edges` + :func:`edge_arrays` + :func:`igraph_from_arrays` — the same
  graph as columnar arrays and an igraph graph built straight from them, for the graph
  stage on millions of subscribers (no Python loop over edges).

Both read the same SQL, so vertex ``i`` of the igraph graph is ``msisdn[i]`` and the
NetworkX graph's nodes come in the same (sorted) order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import igraph
import networkx as nx
import numpy as np

from graph.warehouse import months_filter, sql_date, table_exists, tie_strength_sql

NODES_TABLE = "graph_nodes"
EDGES_TABLE = "graph_edges"


def _aggregated_edges_sql(cutoff: date, window_months: int | None) -> tuple[str, str, str]:
    w_ab = tie_strength_sql("calls_ab", "sms_ab", "seconds_ab")
    w_ba = tie_strength_sql("calls_ba", "sms_ba", "seconds_ba")
    return f"""
        SELECT a, b,
               sum(calls_ab)::BIGINT AS calls_ab, sum(calls_ba)::BIGINT AS calls_ba,
               sum(seconds_ab)::BIGINT AS seconds_ab, sum(seconds_ba)::BIGINT AS seconds_ba,
               sum(sms_ab)::BIGINT AS sms_ab, sum(sms_ba)::BIGINT AS sms_ba,
               sum(coalesce(night_calls, 0))::BIGINT AS night_calls,
               sum(coalesce(roaming_calls, 0))::BIGINT AS roaming_calls,
               max(month) AS last_month, count(*)::BIGINT AS months_active
        FROM call_edges
        WHERE {months_filter(cutoff, window_months)}
        GROUP BY a, b
    """, w_ab, w_ba


def stage_call_edges(
    con: duckdb.DuckDBPyConnection, *, cutoff: date, window_months: int | None = None
) -> tuple[int, int]:
    """Write the cut-off's nodes and edges to temporary tables ``graph_nodes``/``graph_edges``.

    ``graph_nodes(vid, msisdn, on_net, operator, customer_id, subscription_id)``: vertex ids
    0..n-1 in msisdn order; numbers of edges before the cut-off plus on-net numbers first seen
    before it (isolated subscribers are nodes too). Without a ``numbers`` table every number
    is taken as on-net (a closed network such as a study population).
    ``graph_edges(u, v, a, b, ...)``: one row per pair, ``u < v`` the vertex ids of ``a < b``,
    counts summed over the months, ``weight_ab``/``weight_ba``/``weight`` tie strengths and
    ``reciprocity`` = min/max of the two directions' strengths.
    Returns (nodes, edges).
    """
    body, w_ab, w_ba = _aggregated_edges_sql(cutoff, window_months)
    has_numbers = table_exists(con, "numbers")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _graph_pairs AS {body}")
    if has_numbers:
        isolated = f"""
            UNION SELECT msisdn FROM numbers
            WHERE on_net AND (first_seen IS NULL OR first_seen < {sql_date(cutoff)})
        """
        attrs = """
            LEFT JOIN (SELECT msisdn, any_value(on_net) AS on_net, any_value(operator) AS operator,
                              any_value(customer_id) AS customer_id,
                              any_value(subscription_id) AS subscription_id
                       FROM numbers GROUP BY msisdn) n USING (msisdn)
        """
        columns = ("coalesce(n.on_net, FALSE) AS on_net, n.operator::VARCHAR AS operator, "
                   "n.customer_id::VARCHAR AS customer_id, "
                   "n.subscription_id::VARCHAR AS subscription_id")
    else:
        isolated, attrs = "", ""
        columns = ("TRUE AS on_net, NULL::VARCHAR AS operator, NULL::VARCHAR AS customer_id, "
                   "NULL::VARCHAR AS subscription_id")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {NODES_TABLE} AS
        WITH ids AS (SELECT a AS msisdn FROM _graph_pairs UNION SELECT b FROM _graph_pairs
                     {isolated})
        SELECT (row_number() OVER (ORDER BY msisdn) - 1)::BIGINT AS vid, msisdn, {columns}
        FROM ids {attrs}
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {EDGES_TABLE} AS
        SELECT na.vid AS u, nb.vid AS v, p.*,
               ({w_ab})::DOUBLE AS weight_ab, ({w_ba})::DOUBLE AS weight_ba,
               ({w_ab} + {w_ba})::DOUBLE AS weight,
               CASE WHEN greatest({w_ab}, {w_ba}) > 0
                    THEN least({w_ab}, {w_ba}) / greatest({w_ab}, {w_ba}) ELSE 0 END
                   ::DOUBLE AS reciprocity
        FROM _graph_pairs p
        JOIN {NODES_TABLE} na ON na.msisdn = p.a
        JOIN {NODES_TABLE} nb ON nb.msisdn = p.b
    """)
    con.execute("DROP TABLE _graph_pairs")
    n = con.execute(f"SELECT count(*) FROM {NODES_TABLE}").fetchall()[0][0]
    m = con.execute(f"SELECT count(*) FROM {EDGES_TABLE}").fetchall()[0][0]
    return int(n), int(m)


@dataclass(frozen=True)
class EdgeArrays:
    """The staged call graph as numpy arrays; vertex ``i`` is ``msisdn[i]``."""

    msisdn: np.ndarray
    on_net: np.ndarray
    u: np.ndarray
    v: np.ndarray
    weight: np.ndarray
    weight_uv: np.ndarray
    weight_vu: np.ndarray

    @property
    def n(self) -> int:
        return len(self.msisdn)

    @property
    def m(self) -> int:
        return len(self.u)


def edge_arrays(con: duckdb.DuckDBPyConnection) -> EdgeArrays:
    """Fetch the staged graph (see :func:`stage_call_edges`) as arrays, columnar."""
    nodes = con.execute(f"SELECT msisdn, on_net FROM {NODES_TABLE} ORDER BY vid").fetchnumpy()
    edges = con.execute(
        f"SELECT u, v, weight, weight_ab, weight_ba FROM {EDGES_TABLE} ORDER BY u, v"
    ).fetchnumpy()
    return EdgeArrays(
        msisdn=np.asarray(nodes["msisdn"], dtype=object),
        on_net=np.asarray(nodes["on_net"], dtype=bool),
        u=np.asarray(edges["u"], dtype=np.int64),
        v=np.asarray(edges["v"], dtype=np.int64),
        weight=np.asarray(edges["weight"], dtype=np.float64),
        weight_uv=np.asarray(edges["weight_ab"], dtype=np.float64),
        weight_vu=np.asarray(edges["weight_ba"], dtype=np.float64),
    )


def igraph_from_arrays(n: int, u: np.ndarray, v: np.ndarray, *, directed: bool = False
                       ) -> igraph.Graph:
    """An igraph graph on vertices 0..n-1 with edges (u[i], v[i]), in that order.

    Edge weights are not stored as attributes: pass the numpy weights (as a list) to the
    algorithm, which keeps the edge order aligned with the arrays.
    """
    g = igraph.Graph(n=n, directed=directed)
    if len(u):
        g.add_edges(np.column_stack([u, v]).astype(np.int32, copy=False))
    return g


def call_graph(
    con: duckdb.DuckDBPyConnection,
    *,
    cutoff: date,
    directed: bool = False,
    window_months: int | None = None,
) -> nx.Graph | nx.DiGraph:
    """The call graph as of ``cutoff`` (complete months before it), as a NetworkX graph.

    Nodes are msisdns with ``on_net``, ``operator``, ``customer_id``, ``subscription_id``.
    Undirected: one edge per pair with ``calls``, ``minutes``, ``sms``, ``weight``,
    ``reciprocity`` and the per-direction counts ``calls_ab`` … where ``a < b`` are the
    edge attributes ``a``/``b``. Directed: an edge ``x → y`` when ``x`` called or texted
    ``y``, with that direction's ``calls``, ``minutes``, ``sms``, ``weight`` and
    ``reciprocal`` (the other direction exists too).
    """
    stage_call_edges(con, cutoff=cutoff, window_months=window_months)
    G: nx.Graph | nx.DiGraph = nx.DiGraph() if directed else nx.Graph()
    G.graph["cutoff"] = cutoff
    for msisdn, on_net, operator, customer_id, subscription_id in con.execute(
        f"SELECT msisdn, on_net, operator, customer_id, subscription_id FROM {NODES_TABLE} "
        "ORDER BY vid"
    ).fetchall():
        G.add_node(msisdn, on_net=bool(on_net), operator=operator, customer_id=customer_id,
                   subscription_id=subscription_id)
    rows = con.execute(f"""
        SELECT a, b, calls_ab, calls_ba, seconds_ab, seconds_ba, sms_ab, sms_ba, night_calls,
               roaming_calls, weight_ab, weight_ba, weight, reciprocity, last_month
        FROM {EDGES_TABLE} ORDER BY u, v
    """).fetchall()
    for (a, b, c_ab, c_ba, s_ab, s_ba, t_ab, t_ba, night, roaming, w_ab, w_ba, w, rec,
         last_month) in rows:
        if directed:
            both = (c_ab + t_ab) > 0 and (c_ba + t_ba) > 0
            if c_ab + t_ab > 0:
                G.add_edge(a, b, calls=c_ab, minutes=s_ab / 60.0, sms=t_ab, weight=w_ab,
                           reciprocal=both)
            if c_ba + t_ba > 0:
                G.add_edge(b, a, calls=c_ba, minutes=s_ba / 60.0, sms=t_ba, weight=w_ba,
                           reciprocal=both)
        else:
            G.add_edge(a, b, a=a, b=b, calls=c_ab + c_ba, minutes=(s_ab + s_ba) / 60.0,
                       sms=t_ab + t_ba, calls_ab=c_ab, calls_ba=c_ba, seconds_ab=s_ab,
                       seconds_ba=s_ba, sms_ab=t_ab, sms_ba=t_ba, night_calls=night,
                       roaming_calls=roaming, weight_ab=w_ab, weight_ba=w_ba, weight=w,
                       reciprocity=rec, last_month=last_month)
    con.execute(f"DROP TABLE IF EXISTS {EDGES_TABLE}")
    con.execute(f"DROP TABLE IF EXISTS {NODES_TABLE}")
    return G
