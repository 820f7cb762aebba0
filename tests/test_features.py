"""Graph features per subscriber as of a cut-off, from a real (small) warehouse."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx
import numpy as np
import pytest
from test_callgraph import CUTOFF, make_warehouse

from graph.callgraph import call_graph
from graph.features import spreading_activation
from graph.stage import build_graph_stage
from graph.warehouse import replace_cutoff_rows, stale_cutoffs


def _features(con: duckdb.DuckDBPyConnection, cutoff: date = CUTOFF) -> dict[str, dict[str, Any]]:
    cur = con.execute(f"SELECT * FROM graph_features WHERE cutoff = DATE '{cutoff}'")
    names = [d[0] for d in cur.description]
    return {row[1]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def test_features_mean_what_networkx_means(tmp_path: Path) -> None:
    con = make_warehouse(tmp_path / "w.duckdb")
    report = build_graph_stage(con, cutoff=CUTOFF)
    assert (report.nodes, report.edges, report.subscribers) == (8, 7, 7)
    feats = _features(con)
    assert set(feats) == {f"+451000000{i}" for i in range(1, 8)}  # on-net subscribers only
    G = call_graph(con, cutoff=CUTOFF)
    D = call_graph(con, cutoff=CUTOFF, directed=True)
    pagerank = nx.pagerank(G, weight="weight", tol=1e-12)
    clustering = nx.clustering(G)
    core = nx.core_number(G)
    for msisdn, f in feats.items():
        assert f["degree"] == G.degree(msisdn)
        assert f["strength"] == pytest.approx(G.degree(msisdn, weight="weight"))
        assert f["out_degree"] == D.out_degree(msisdn)
        assert f["in_degree"] == D.in_degree(msisdn)
        assert f["strength_out"] == pytest.approx(D.out_degree(msisdn, weight="weight"))
        assert f["pagerank"] == pytest.approx(pagerank[msisdn], abs=1e-8)
        assert f["clustering"] == pytest.approx(clustering[msisdn])
        assert f["core_number"] == core[msisdn]
        if D.degree(msisdn):
            assert f["reciprocity"] == pytest.approx(nx.reciprocity(D, msisdn))
    one = feats["+4510000001"]
    # S2 (a neighbour of 1 and 3) ported out on 10 March, 22 days before the cut-off
    assert one["churned_neighbours"] == 1 and one["churned_neighbour_share"] == pytest.approx(1 / 3)
    tie = G.edges["+4510000001", "+4510000002"]["weight"]
    assert one["churned_tie_weight"] == pytest.approx(tie * 0.5 ** (22 / 90))
    assert one["churned_tie_share"] == pytest.approx(one["churned_tie_weight"] / one["strength"])
    assert one["days_since_contact_left"] == 22
    assert feats["+4510000005"]["days_since_contact_left"] is None  # none of theirs left
    assert feats["+4510000002"]["churned_before_cutoff"] is True
    assert one["onnet_contact_share"] == pytest.approx(2 / 3)
    assert one["offnet_contact_share"] == pytest.approx(1 / 3)
    assert one["neighbour_mean_arpu"] == pytest.approx((20 + 30) / 2)  # off-net has no bill
    assert one["plan"] == "P_BASIC" and one["neighbour_same_plan_share"] == pytest.approx(1 / 2)
    assert one["tenure_days"] == (CUTOFF - date(2024, 1, 10)).days
    assert one["churn_activation"] > feats["+4510000004"]["churn_activation"] > 0
    assert feats["+4510000005"]["churn_activation"] == 0  # another component
    lonely = feats["+4510000007"]
    assert lonely["degree"] == 0 and lonely["circle_id"] is None


def _assert_same_features(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for msisdn, row in expected.items():
        assert got[msisdn].keys() == row.keys()
        for name, value in row.items():
            other = got[msisdn][name]
            if isinstance(value, float) and math.isnan(value):
                assert isinstance(other, float) and math.isnan(other), (msisdn, name)
            elif isinstance(value, float):
                assert other == pytest.approx(value, rel=1e-12, abs=1e-15), (msisdn, name)
            else:
                assert other == value, (msisdn, name)


def test_nothing_after_the_cutoff_changes_the_features(tmp_path: Path) -> None:
    con = make_warehouse(tmp_path / "w.duckdb")
    build_graph_stage(con, cutoff=CUTOFF)
    before = _features(con)
    circles = con.execute("SELECT * FROM circles ORDER BY circle_id").fetchall()
    # the future: a churn, a bill, calls, a new subscriber after the cut-off
    con.execute("INSERT INTO churn_events VALUES ('E9', 'S3', '2026-04-15', 'port_out', "
                "'Rival'), ('E10', 'S1', DATE '2026-04-01', 'termination', NULL)")
    con.execute("INSERT INTO bills VALUES ('BX', 'S1', '2026-04-01', '2026-04-30', 999.0)")
    con.execute("INSERT INTO call_edges VALUES ('2026-04-01', '+4510000002', '+4510000005', "
                "9, 9, 999, 999, 9, 9, 0, 0, NULL, NULL)")
    con.execute("INSERT INTO subscriptions VALUES ('S8', 'C8', '+4510000008', 'P_GOLD', "
                "'active', '2026-04-20', NULL, 'subscriptions.csv', 9)")
    build_graph_stage(con, cutoff=CUTOFF)  # same cut-off: replaces its rows, same ids
    # Equal up to the last bits of DuckDB's parallel float sums, whose order varies.
    _assert_same_features(_features(con), before)
    after = con.execute("SELECT * FROM circles ORDER BY circle_id").fetchall()
    _assert_same_features({i: dict(enumerate(r)) for i, r in enumerate(after)},
                          {i: dict(enumerate(r)) for i, r in enumerate(circles)})
    counts = con.execute("SELECT count(*) FROM graph_features").fetchall()[0][0]
    assert counts == len(before)


def test_spreading_activation_conserves_and_decays() -> None:
    # path 0 - 1 - 2 - 3 and an isolated 4; churner 0
    u, v = np.array([0, 1, 2]), np.array([1, 2, 3])
    w = np.array([1.0, 1.0, 1.0])
    energy = spreading_activation(5, u, v, w, np.array([0]), spreading_factor=0.5,
                                  tolerance=1e-12, max_steps=500)
    assert energy.sum() == pytest.approx(1.0)
    assert energy[0] > energy[1] > energy[2] > energy[3] > 0 and energy[4] == 0
    # one step by hand: 0 keeps 0.5, sends 0.5 to 1
    one = spreading_activation(5, u, v, w, np.array([0]), spreading_factor=0.5, max_steps=1)
    assert one.tolist() == pytest.approx([0.5, 0.5, 0, 0, 0])
    # ties carry energy in proportion to their strength
    star = spreading_activation(3, np.array([0, 0]), np.array([1, 2]), np.array([3.0, 1.0]),
                                np.array([0]), spreading_factor=1.0, max_steps=1)
    assert star.tolist() == pytest.approx([0, 0.75, 0.25])
    lone = spreading_activation(5, u, v, w, np.array([4]))
    assert lone.tolist() == [0, 0, 0, 0, 1.0]


def test_a_new_column_keeps_the_other_cutoffs_and_marks_them_stale(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    jan, feb = date(2026, 2, 1), date(2026, 3, 1)
    for cutoff, value in ((jan, 1.0), (feb, 2.0)):
        replace_cutoff_rows(con, "scores", cutoff,
                            f"SELECT DATE '{cutoff}' AS cutoff, 'a' AS msisdn, {value} AS old, "
                            f"{value} AS kept")
    # the next version drops `old`, adds `new`, and writes February only
    replace_cutoff_rows(con, "scores", feb,
                        f"SELECT DATE '{feb}' AS cutoff, 'a' AS msisdn, 7.0 AS kept, 8 AS new")
    assert con.execute("SELECT cutoff, kept, new FROM scores ORDER BY cutoff").fetchall() == [
        (jan, 1.0, None), (feb, 7.0, 8)]
    assert [r[0] for r in con.execute("DESCRIBE scores").fetchall()] == [
        "cutoff", "msisdn", "kept", "new"]
    assert stale_cutoffs(con, ("scores",)) == [jan]
    assert stale_cutoffs(con, ("other",)) == []
    replace_cutoff_rows(con, "scores", jan,
                        f"SELECT DATE '{jan}' AS cutoff, 'a' AS msisdn, 5.0 AS kept, 6 AS new")
    assert stale_cutoffs(con, ("scores",)) == []
    # a version that only drops a column leaves nothing stale
    replace_cutoff_rows(con, "scores", feb, f"SELECT DATE '{feb}' AS cutoff, 'a' AS msisdn, "
                                            "7.0 AS kept")
    assert con.execute("SELECT cutoff, kept FROM scores ORDER BY cutoff").fetchall() == [
        (jan, 5.0), (feb, 7.0)]
    assert stale_cutoffs(con, ("scores",)) == []
