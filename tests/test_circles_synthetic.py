"""Call circles against the synthetic operator's planted circles (ground truth)."""

from __future__ import annotations

import random
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import igraph
import pytest
from sklearn.metrics import normalized_mutual_info_score

from graph.callgraph import edge_arrays, igraph_from_arrays, stage_call_edges
from graph.stage import build_graph_stage
from ingest.aggregate import build_aggregates
from ingest.load import stage_sources
from ingest.synthetic import generate_operator

CUTOFF = date(2026, 4, 1)


def _warehouse(tmp_path: Path) -> tuple[Path, Path]:
    """A 300-subscriber synthetic operator ingested into a warehouse: (source, warehouse)."""
    source = tmp_path / "source"
    generate_operator(source, subscribers=300, months=3, seed=3, progress=False)
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    stage_sources(con, source, run_id="run-1", now=datetime(2026, 5, 1))
    build_aggregates(con)
    con.close()
    return source, path


def test_circles_recover_the_planted_circles(tmp_path: Path) -> None:
    source, path = _warehouse(tmp_path)
    con = duckdb.connect(str(path))
    report = build_graph_stage(con, cutoff=CUTOFF, seed=0)

    planted = dict(con.execute(
        f"SELECT msisdn, circle_id FROM read_csv('{source / 'ground-truth' / 'circles.csv'}')"
    ).fetchall())
    found = dict(con.execute(
        "SELECT msisdn, circle_id FROM circle_members WHERE cutoff = ?", [CUTOFF]).fetchall())
    common = sorted(set(planted) & set(found))
    assert len(common) > 0.9 * len(planted)
    ours = normalized_mutual_info_score([planted[m] for m in common], [found[m] for m in common])

    stage_call_edges(con, cutoff=CUTOFF)  # igraph's Leiden run directly on the same graph
    arrays = edge_arrays(con)
    g = igraph_from_arrays(arrays.n, arrays.u, arrays.v)
    index = {m: i for i, m in enumerate(arrays.msisdn)}
    direct = []
    for iterations in (2, -1):
        igraph.set_random_number_generator(random.Random(0))
        try:
            part = g.community_leiden(objective_function="modularity",
                                      weights=arrays.weight.tolist(), n_iterations=iterations)
        finally:
            igraph.set_random_number_generator(random)
        direct.append(normalized_mutual_info_score(
            [planted[m] for m in common], [part.membership[index[m]] for m in common]))
    print(f"synthetic operator, 300 subscribers: {report.nodes} numbers, {report.edges} ties, "
          f"{report.circles} circles, modularity {report.modularity:.4f}, NMI {ours:.4f} "
          f"(igraph Leiden directly {max(direct):.4f})")
    assert ours >= max(direct) - 0.01
    assert ours > 0.8


def test_worker_process_gives_the_same_stage(tmp_path: Path) -> None:
    """igraph in a worker process alongside DuckDB writes what the in-process stage writes."""
    _, path = _warehouse(tmp_path)
    shutil.copy(path, tmp_path / "parallel.duckdb")
    tables = {"graph_features": "msisdn", "circles": "circle_id",
              "circle_members": "circle_id, msisdn",
              "prospects": "msisdn", "prospect_referrers": "msisdn, referrer_msisdn",
              "behaviour_monthly": "msisdn, month"}
    written = []
    for name, parallel in (("warehouse.duckdb", False), ("parallel.duckdb", True)):
        con = duckdb.connect(str(tmp_path / name))
        report = build_graph_stage(con, cutoff=CUTOFF, seed=0, parallel=parallel)
        assert report.circles > 10 and report.behaviour_rows > 0
        written.append({t: con.execute(f"SELECT * FROM {t} ORDER BY {k}").fetchall()
                        for t, k in tables.items()})
        con.close()
    inline, worker = written
    for table in tables:
        assert len(worker[table]) == len(inline[table]) > 0, table
        for got, expected in zip(worker[table], inline[table], strict=True):
            # equal up to the last bits of DuckDB's parallel float sums
            assert [pytest.approx(x, rel=1e-12, nan_ok=True) if isinstance(x, float) else x
                    for x in expected] == list(got), table
