"""The call graph from warehouse edges, and igraph algorithms meaning what NetworkX means."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import duckdb
import networkx as nx
import numpy as np
import pyarrow as pa
import pytest

from graph import algorithms as alg
from graph.callgraph import call_graph, edge_arrays, igraph_from_arrays, stage_call_edges

CUTOFF = date(2026, 4, 1)

# (month, a, b, calls_ab, calls_ba, seconds_ab, seconds_ba, sms_ab, sms_ba)
EDGES = [
    ("2026-01-01", "+4510000001", "+4510000002", 5, 3, 600, 300, 2, 2),
    ("2026-02-01", "+4510000001", "+4510000002", 1, 0, 60, 0, 0, 0),
    ("2026-02-01", "+4510000001", "+4510000003", 2, 2, 120, 120, 0, 0),
    ("2026-02-01", "+4510000002", "+4510000003", 4, 0, 240, 0, 0, 0),
    ("2026-03-01", "+4510000003", "+4510000004", 1, 1, 30, 30, 1, 1),
    ("2026-03-01", "+4510000004", "+4520000009", 6, 2, 900, 200, 0, 0),
    ("2026-03-01", "+4510000001", "+4520000009", 3, 0, 100, 0, 0, 0),
    ("2026-03-01", "+4510000005", "+4510000006", 2, 2, 60, 60, 0, 0),
    # April is on/after the cut-off: must not appear
    ("2026-04-01", "+4510000001", "+4510000006", 50, 50, 9000, 9000, 0, 0),
]
SUBSCRIBERS = {  # msisdn -> (subscription, customer, plan, start)
    "+4510000001": ("S1", "C1", "P_BASIC", "2024-01-10"),
    "+4510000002": ("S2", "C2", "P_BASIC", "2023-05-01"),
    "+4510000003": ("S3", "C3", "P_GOLD", "2025-02-01"),
    "+4510000004": ("S4", "C4", "P_GOLD", "2025-11-01"),
    "+4510000005": ("S5", "C5", "P_BASIC", "2022-01-01"),
    "+4510000006": ("S6", "C6", "P_GOLD", "2021-06-01"),
    "+4510000007": ("S7", "C7", "P_BASIC", "2026-01-01"),  # no calls yet: an isolated node
}


def make_warehouse(path: Path, edges: list[tuple] = EDGES) -> duckdb.DuckDBPyConnection:
    """A small warehouse with the tables of docs/warehouse.md the graph stage reads."""
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE call_edges (month DATE, a VARCHAR, b VARCHAR, calls_ab BIGINT,
            calls_ba BIGINT, seconds_ab BIGINT, seconds_ba BIGINT, sms_ab BIGINT, sms_ba BIGINT,
            night_calls BIGINT, roaming_calls BIGINT, first_contact TIMESTAMP,
            last_contact TIMESTAMP)""")
    columns = ["month", "a", "b", "calls_ab", "calls_ba", "seconds_ab", "seconds_ba", "sms_ab",
               "sms_ba"]
    con.register("edge_rows", pa.table({c: [e[i] for e in edges] for i, c in enumerate(columns)}))
    con.execute(f"INSERT INTO call_edges BY NAME SELECT month::DATE AS month, "
                f"{', '.join(columns[1:])}, 0 AS night_calls, 0 AS roaming_calls FROM edge_rows")
    con.unregister("edge_rows")
    con.execute("UPDATE call_edges SET first_contact = month, "
                "last_contact = month + INTERVAL 20 DAY")
    con.execute("""
        CREATE TABLE numbers (msisdn VARCHAR, on_net BOOLEAN, operator VARCHAR,
            subscription_id VARCHAR, customer_id VARCHAR, first_seen DATE, last_seen DATE)""")
    for msisdn, (sub, cust, _plan, start) in SUBSCRIBERS.items():
        con.execute("INSERT INTO numbers VALUES (?, TRUE, 'Home', ?, ?, ?, NULL)",
                    [msisdn, sub, cust, start])
    con.execute("INSERT INTO numbers VALUES ('+4520000009', FALSE, 'Rival', NULL, NULL, "
                "'2026-01-01', NULL)")
    con.execute("""
        CREATE TABLE subscriptions (subscription_id VARCHAR, customer_id VARCHAR,
            msisdn VARCHAR, product_id VARCHAR, status VARCHAR, start_date DATE,
            end_date DATE, _source_file VARCHAR, _source_line BIGINT)""")
    for msisdn, (sub, cust, plan, start) in SUBSCRIBERS.items():
        con.execute("INSERT INTO subscriptions VALUES (?, ?, ?, ?, 'active', ?, NULL, "
                    "'subscriptions.csv', 2)", [sub, cust, msisdn, plan, start])
    con.execute("""
        CREATE TABLE products (product_id VARCHAR, name VARCHAR, product_type VARCHAR,
            payment_type VARCHAR, monthly_fee DOUBLE)""")
    con.execute("INSERT INTO products VALUES ('P_BASIC', 'Basic', 'plan', 'prepaid', 10), "
                "('P_GOLD', 'Gold', 'plan', 'postpaid', 40)")
    con.execute("""
        CREATE TABLE bills (bill_id VARCHAR, subscription_id VARCHAR, period DATE,
            issue_date DATE, total_amount DOUBLE)""")
    for i, sub in enumerate(["S1", "S2", "S3", "S4", "S5", "S6"]):
        for month in ("2026-01-01", "2026-02-01", "2026-03-01"):
            con.execute("INSERT INTO bills VALUES (?, ?, ?, ?, ?)",
                        [f"B{sub}{month}", sub, month, month, 10.0 + 10 * i])
    con.execute("""
        CREATE TABLE churn_events (event_id VARCHAR, subscription_id VARCHAR, churn_date DATE,
            churn_type VARCHAR, recipient_operator VARCHAR)""")
    con.execute("INSERT INTO churn_events VALUES ('E1', 'S2', '2026-03-10', 'port_out', "
                "'Rival')")
    return con


def test_call_graph_from_warehouse(tmp_path: Path) -> None:
    con = make_warehouse(tmp_path / "w.duckdb")
    G = call_graph(con, cutoff=CUTOFF)
    assert G.number_of_nodes() == 8  # 6 talking subscribers + isolated S7 + one off-net
    assert G.number_of_edges() == 7  # April's edge is after the cut-off
    assert not G.has_edge("+4510000001", "+4510000006")
    assert G.nodes["+4520000009"]["on_net"] is False
    assert G.nodes["+4520000009"]["operator"] == "Rival"
    assert G.nodes["+4510000007"]["on_net"] is True and G.degree("+4510000007") == 0
    e = G.edges["+4510000001", "+4510000002"]
    assert (e["calls"], e["sms"], e["calls_ab"], e["calls_ba"]) == (9, 4, 6, 3)
    assert e["minutes"] == pytest.approx(16.0)
    # weight = calls + 0.5 sms + 0.1 minutes
    assert e["weight"] == pytest.approx(9 + 2 + 1.6)
    assert e["reciprocity"] == pytest.approx((3 + 1 + 0.5) / (6 + 1 + 1.1))
    D = call_graph(con, cutoff=CUTOFF, directed=True)
    assert D.has_edge("+4510000002", "+4510000003")
    assert not D.has_edge("+4510000003", "+4510000002")
    assert D.edges["+4510000001", "+4520000009"]["reciprocal"] is False
    assert D.edges["+4510000001", "+4510000002"]["reciprocal"] is True
    assert D.edges["+4510000001", "+4510000002"]["calls"] == 6
    # an earlier cut-off sees fewer months
    assert call_graph(con, cutoff=date(2026, 2, 1)).number_of_edges() == 1


def test_arrays_and_igraph_keep_node_order(tmp_path: Path) -> None:
    con = make_warehouse(tmp_path / "w.duckdb")
    G = call_graph(con, cutoff=CUTOFF)
    n, m = stage_call_edges(con, cutoff=CUTOFF)
    arrays = edge_arrays(con)
    assert (n, m) == (G.number_of_nodes(), G.number_of_edges())
    assert list(arrays.msisdn) == list(G)
    g = igraph_from_arrays(n, arrays.u, arrays.v)
    for i, (x, y) in enumerate(g.get_edgelist()):
        assert G.edges[arrays.msisdn[x], arrays.msisdn[y]]["weight"] == pytest.approx(
            arrays.weight[i])
    via_nx = nx.pagerank(G, weight="weight", tol=1e-12)
    for implementation in ("arpack", "prpack"):  # small and large graphs' solvers
        via_arrays = alg.pagerank_ig(g, arrays.weight, implementation=implementation)
        assert via_arrays == pytest.approx([via_nx[x] for x in arrays.msisdn], abs=1e-8)


def _random_weighted(n: int, m: int, seed: int, directed: bool) -> nx.Graph:
    G = nx.gnm_random_graph(n, m, seed=seed, directed=directed)
    rng = random.Random(seed)
    for x, y in G.edges:
        G[x][y]["weight"] = rng.uniform(0.5, 10)
    return nx.relabel_nodes(G, {i: f"+45{i:08d}" for i in G})


@pytest.mark.parametrize("directed", [False, True])
def test_algorithms_mean_what_networkx_means(directed: bool) -> None:
    G = _random_weighted(80, 260, seed=7, directed=directed)
    ours, ref = alg.pagerank(G), nx.pagerank(G, weight="weight", tol=1e-12)
    assert max(abs(ours[x] - ref[x]) for x in G) < 1e-8
    assert alg.core_number(G) == nx.core_number(G)
    for k in (12, 80):
        ours = alg.approx_betweenness(G, k=k, seed=3)
        ref = nx.betweenness_centrality(G, k=k, seed=3)
        assert max(abs(ours[x] - ref[x]) for x in G) < 1e-12
    if not directed:
        ours, ref = alg.clustering(G), nx.clustering(G)
        assert max(abs(ours[x] - ref[x]) for x in G) < 1e-12
        circles = alg.communities(G, resolution=1.0, seed=1)
        assert sorted(len(c) for c in circles) == sorted(
            len(c) for c in alg.communities(G, resolution=1.0, seed=1))
        assert alg.modularity(G, circles) == pytest.approx(
            nx.community.modularity(G, circles, weight="weight"))
        louvain = nx.community.louvain_communities(G, weight="weight", seed=1)
        # same objective: Leiden does at least as well as NetworkX's Louvain (small slack)
        assert alg.modularity(G, circles) >= nx.community.modularity(G, louvain) - 0.01
        finer = alg.communities(G, resolution=3.0, seed=1)
        assert len(finer) > len(circles)


def test_communities_are_seeded_and_leave_no_state() -> None:
    G = _random_weighted(120, 400, seed=2, directed=False)
    state = random.getstate()
    first = alg.communities(G, seed=5)
    assert random.getstate() == state
    assert first == alg.communities(G, seed=5)
    membership = alg.canonical_labels(np.array([7, 7, 3, 3, 3, 9]))
    assert membership.tolist() == [1, 1, 0, 0, 0, 2]
