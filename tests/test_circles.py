"""Call circles in the warehouse: stable ids, splits and merges, per-circle figures,
prospects, and the real Copenhagen call + SMS network."""

from __future__ import annotations

import csv
import itertools
from datetime import date
from pathlib import Path

import duckdb
import networkx as nx
import pytest
from test_callgraph import CUTOFF, make_warehouse

from graph.callgraph import call_graph
from graph.circles import circle_summaries
from graph.stage import build_graph_stage

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _num(i: int) -> str:
    return f"+453000{i:04d}"


def _clique_edges(month: str, members: list[int]) -> list[tuple]:
    return [(month, _num(x), _num(y), 3, 2, 300, 200, 1, 1)
            for x, y in itertools.combinations(sorted(members), 2)]


def _bridge(month: str, x: int, y: int) -> tuple:
    return (month, _num(min(x, y)), _num(max(x, y)), 0, 0, 0, 0, 1, 0)


def _scenario(path: Path) -> duckdb.DuckDBPyConnection:
    """Q1: circles A, B, C, E. Q2: A unchanged, B splits 6 + 4, C and E merge."""
    a, b, c, e = list(range(10)), list(range(10, 20)), list(range(20, 28)), list(range(30, 36))
    edges: list[tuple] = []
    for month in ("2026-01-01", "2026-02-01", "2026-03-01"):
        for members in (a, b, c, e):
            edges += _clique_edges(month, members)
        edges += [_bridge(month, 0, 10), _bridge(month, 11, 20), _bridge(month, 21, 30)]
    for month in ("2026-04-01", "2026-05-01", "2026-06-01"):
        for members in (a, b[:6], b[6:], c + e):
            edges += _clique_edges(month, members)
        edges += [_bridge(month, 0, 10), _bridge(month, 11, 19), _bridge(month, 12, 20)]
    con = make_warehouse(path, edges=edges)
    con.execute("INSERT INTO numbers SELECT DISTINCT a, TRUE, 'Home', NULL, NULL, NULL, NULL "
                "FROM (SELECT a FROM call_edges UNION SELECT b FROM call_edges) "
                "WHERE a LIKE '+4530%'")
    return con


def _circles_of(con: duckdb.DuckDBPyConnection, cutoff: date) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for circle_id, msisdn in con.execute(
            f"SELECT circle_id, msisdn FROM circle_members WHERE cutoff = DATE '{cutoff}'"
    ).fetchall():
        out.setdefault(circle_id, set()).add(msisdn)
    return out


def test_circles_keep_their_ids_and_record_splits_and_merges(tmp_path: Path) -> None:
    con = _scenario(tmp_path / "w.duckdb")
    q1, q2 = date(2026, 4, 1), date(2026, 7, 1)
    first = build_graph_stage(con, cutoff=q1, window_months=3, seed=1)
    before = _circles_of(con, q1)
    by_member = {m: cid for cid, ms in before.items() for m in ms}
    ids = {name: by_member[_num(i)] for name, i in (("A", 0), ("B", 10), ("C", 20), ("E", 30))}
    assert len(set(ids.values())) == 4 and first.lineage == {"new": len(before)}
    assert before[ids["B"]] == {_num(i) for i in range(10, 20)}

    second = build_graph_stage(con, cutoff=q2, window_months=3, seed=1)
    assert second.previous_cutoff == q1  # found by itself
    after = _circles_of(con, q2)
    assert after[ids["A"]] == before[ids["A"]]  # unchanged circle, same id
    assert after[ids["B"]] == {_num(i) for i in range(10, 16)}  # the larger part keeps it
    assert after[ids["C"]] == before[ids["C"]] | before[ids["E"]]  # C absorbed E
    assert ids["E"] not in after
    new_ids = set(after) - set(before)
    assert len(new_ids) == 1 and min(new_ids) > max(before)  # ids are never reused
    lineage = {(p, c): kind for p, c, kind in con.execute(
        f"SELECT previous_circle_id, circle_id, kind FROM circle_lineage "
        f"WHERE cutoff = DATE '{q2}'").fetchall()}
    (b2,) = new_ids
    assert lineage == {
        (ids["A"], ids["A"]): "continued",
        (ids["B"], ids["B"]): "continued",
        (ids["B"], b2): "split",
        (ids["C"], ids["C"]): "continued",
        (ids["E"], ids["C"]): "merged",
    }
    assert second.lineage == {"continued": 3, "split": 1, "merged": 1, "new": 1}
    # the first cut-off's rows are untouched by the second run
    assert _circles_of(con, q1) == before


def test_circle_figures_and_influencers(tmp_path: Path) -> None:
    con = _scenario(tmp_path / "w.duckdb")
    report = build_graph_stage(con, cutoff=date(2026, 4, 1), window_months=3)
    G = call_graph(con, cutoff=date(2026, 4, 1), window_months=3)
    circles = list(_circles_of(con, date(2026, 4, 1)).values())
    circles += [{x} for x in G if G.degree(x) == 0]  # subscribers without calls: no circle
    assert report.modularity == pytest.approx(nx.community.modularity(G, circles))
    rows = {r["size"]: r for r in circle_summaries(con, cutoff=date(2026, 4, 1))}
    a = rows[10]
    assert a["density"] == pytest.approx(1.0)
    assert 0.9 < a["internal_share"] < 1.0 and 0.9 < a["internal_call_share"] <= 1.0
    assert a["off_net_share"] == 0.0 and a["churned_members"] == 0
    assert rows[6]["internal_ties"] == 15
    for row in rows.values():
        assert 1 <= len(row["influencers"]) <= 3
    influencers = con.execute(
        "SELECT circle_id, msisdn FROM circle_members WHERE is_influencer").fetchall()
    pagerank = nx.pagerank(G, weight="weight")
    for circle_id, msisdn in influencers:
        members = next(c for c in circles if msisdn in c)
        assert pagerank[msisdn] >= sorted((pagerank[m] for m in members), reverse=True)[2] - 1e-9
        assert circle_id is not None


def test_circle_value_churn_and_prospects(tmp_path: Path) -> None:
    con = make_warehouse(tmp_path / "w.duckdb")
    build_graph_stage(con, cutoff=CUTOFF)
    circle = next(r for r in circle_summaries(con, cutoff=CUTOFF)
                  if r["size"] == 3)  # subscribers 1, 2, 3
    assert circle["churned_members"] == 1 and circle["churn_rate"] == pytest.approx(1 / 3)
    assert circle["total_value"] == pytest.approx(10 + 20 + 30)
    assert circle["mean_value"] == pytest.approx(20)
    assert circle["dominant_plan"] == "P_BASIC"
    assert circle["dominant_plan_share"] == pytest.approx(2 / 3)
    assert circle["influencers"] == ["+4510000001"]  # 2 churned, so never an influencer
    prospects = con.execute("SELECT msisdn, operator, distinct_customers, calls, minutes, "
                            "reciprocity FROM prospects").fetchall()
    assert prospects == [("+4520000009", "Rival", 2, 11, pytest.approx(20.0), 0.5)]
    referrers = con.execute("SELECT referrer_msisdn FROM prospect_referrers "
                            "ORDER BY weight DESC").fetchall()
    assert referrers == [("+4510000004",), ("+4510000001",)]


def _copenhagen_counts() -> tuple[int, int]:
    nodes: set[str] = set()
    pairs: set[frozenset[str]] = set()
    for name in ("copenhagen-calls.csv", "copenhagen-sms.csv"):
        with open(SHARED / name, encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter=";"):
                nodes |= {row["Source"], row["Target"]}
                if row["Source"] != row["Target"]:
                    pairs.add(frozenset((row["Source"], row["Target"])))
    return len(nodes), len(pairs)


@pytest.mark.skipif(not (SHARED / "copenhagen-calls.csv").exists(),
                    reason="shared Copenhagen data not present")
def test_copenhagen_network(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    calls, sms = SHARED / "copenhagen-calls.csv", SHARED / "copenhagen-sms.csv"
    con.execute(f"""
        CREATE TABLE call_edges AS
        WITH ev AS (
            SELECT Source::VARCHAR AS s, Target::VARCHAR AS t, 1 AS calls, Weight AS secs,
                   0 AS sms
            FROM read_csv('{calls}', delim=';', header=true)
            UNION ALL
            SELECT Source::VARCHAR, Target::VARCHAR, 0, 0, 1
            FROM read_csv('{sms}', delim=';', header=true)
        )
        SELECT DATE '2013-01-01' AS month, least(s, t) AS a, greatest(s, t) AS b,
               sum(calls) FILTER (s < t) AS calls_ab, sum(calls) FILTER (s > t) AS calls_ba,
               sum(secs) FILTER (s < t) AS seconds_ab, sum(secs) FILTER (s > t) AS seconds_ba,
               sum(sms) FILTER (s < t) AS sms_ab, sum(sms) FILTER (s > t) AS sms_ba,
               0 AS night_calls, 0 AS roaming_calls,
               NULL::TIMESTAMP AS first_contact, NULL::TIMESTAMP AS last_contact
        FROM ev WHERE s <> t GROUP BY ALL
    """)
    con.execute("UPDATE call_edges SET calls_ab = coalesce(calls_ab, 0), "
                "calls_ba = coalesce(calls_ba, 0), seconds_ab = coalesce(seconds_ab, 0), "
                "seconds_ba = coalesce(seconds_ba, 0), sms_ab = coalesce(sms_ab, 0), "
                "sms_ba = coalesce(sms_ba, 0)")
    report = build_graph_stage(con, cutoff=date(2013, 2, 1))
    nodes, edges = _copenhagen_counts()
    assert (report.nodes, report.edges) == (nodes, edges) == (608, 882)
    assert report.subscribers == nodes  # a closed study population: everyone is on-net
    assert report.prospects == 0
    G = call_graph(con, cutoff=date(2013, 2, 1))
    circles = [c for c in _circles_of(con, date(2013, 2, 1)).values()]
    q = nx.community.modularity(G, circles, weight="weight")
    print(f"Copenhagen calls+SMS: {nodes} people, {edges} ties, {report.circles} circles, "
          f"modularity {report.modularity:.4f}")
    assert report.modularity == pytest.approx(q)
    louvain = nx.community.louvain_communities(G, weight="weight", seed=0)
    assert q >= nx.community.modularity(G, louvain, weight="weight") - 0.01
    assert q > 0.7
    feats = con.execute("SELECT count(*), count(pagerank), sum(churned_neighbours), "
                        "count(neighbour_mean_arpu) FROM graph_features").fetchall()[0]
    assert feats == (nodes, nodes, 0, 0)
