"""``engine: spark`` end to end: the same source ingested by each engine, the same warehouse.

A small synthetic operator is ingested twice: by the embedded engine (``run_ingest``) and
through the command line with a config file naming Spark (``callcircle ingest --config``,
on the test run's shared ``local[2]`` session). Every warehouse table must be the same:
``EXCEPT ALL`` both ways, floats within 1e-9 relative, PageRank within its stopping rule's
bound, the circles (which depend on where Leiden's random moves take it) by NMI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from sklearn.metrics import normalized_mutual_info_score
from spark_fixtures import (
    assert_same_rows,
    columns,
    count,
    spark,  # noqa: F401  (the session-wide fixture)
)
from typer.testing import CliRunner

from api.cli import app
from graph.behaviour import BEHAVIOUR_INPUTS_TABLE, BEHAVIOUR_ON_NET_TABLE
from graph.snapshot import SnapshotStore
from ingest.job import run_ingest
from ingest.synthetic import generate_operator

pytestmark = pytest.mark.spark

PAGERANK_BOUND = 1e-9 * 0.85 / (1 - 0.85)
"""The Spark PageRank's stopping rule (tol 1e-9): within this of igraph's, L1 in total."""

PARTITION_COLUMNS = ("circle_id", "circle_size", "circle_density", "circle_internal_share",
                     "circle_same_plan_share")
"""Columns of ``graph_features`` that follow the circles (compared by NMI, not rows)."""

CIRCLE_TABLES = ("circles", "circle_members", "circle_lineage")
RUN_TABLES = ("ingested_files", "quarantine")
"""Tables that hold the run's own id."""


@pytest.fixture(scope="module")
def warehouses(spark, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
               ) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path, str]]:
    """Both engines' published warehouses attached as ``duckdb`` and ``spark``; the
    Spark run's snapshot folder and its command-line output."""
    root = tmp_path_factory.mktemp("spark-pipeline")
    generate_operator(root / "source", subscribers=200, months=2, seed=11, progress=False)
    embedded = run_ingest(root / "source", data_dir=root / "duckdb")
    config = root / "callcircle.yaml"
    config.write_text("engine: spark\nspark:\n  shuffle_partitions: 2\n", encoding="utf-8")
    shown = CliRunner().invoke(
        app, ["ingest", str(root / "source"), "--data-dir", str(root / "spark"),
              "--config", str(config), "--spark-master", "local[2]"],
        env={"CALLCIRCLE_NO_PROGRESS": "1", "COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    published = SnapshotStore(root / "spark").current()
    assert embedded.snapshot is not None and published is not None
    con = duckdb.connect()
    con.execute(f"ATTACH '{embedded.snapshot.warehouse_path}' AS duckdb (READ_ONLY)")
    con.execute(f"ATTACH '{published.warehouse_path}' AS spark (READ_ONLY)")
    yield con, published.path, shown.output
    con.close()


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    # what DuckDB's behaviour stage keeps to compute only what changed is its own
    own = {BEHAVIOUR_INPUTS_TABLE, BEHAVIOUR_ON_NET_TABLE}
    return {row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [database]
    ).fetchall()} - own


def test_spark_tables_land_in_the_snapshot_and_the_report(
        warehouses: tuple[duckdb.DuckDBPyConnection, Path, str]) -> None:
    con, snapshot, output = warehouses
    spark_folder = snapshot / "spark"
    assert (spark_folder / "call_edges.parquet").is_dir()
    assert (spark_folder / "usage_monthly.parquet").is_dir()
    as_of = sorted(path.name for path in spark_folder.glob("as-of-*"))
    assert as_of == ["as-of-2026-02-01", "as-of-2026-03-01"]
    for table in ("pagerank", "circles", "behaviour_monthly", "graph_features"):
        assert (spark_folder / as_of[-1] / f"{table}.parquet").is_dir(), table
    assert not (spark_folder / "staged").exists()  # copies of the warehouse, removed
    manifest = SnapshotStore(snapshot.parent.parent).current().manifest
    assert "call_edges" in manifest["engines"]["spark"]
    assert "numbers (carrier lookup)" in manifest["engines"]["duckdb"]
    assert "computed by spark" in output and "computed by duckdb" in output
    assert _tables(con, "spark") == _tables(con, "duckdb")


def test_every_table_equals_the_embedded_engines(
        warehouses: tuple[duckdb.DuckDBPyConnection, Path, str]) -> None:
    """Staged tables, aggregates, behaviour, numbers, prospects: row for row."""
    con = warehouses[0]
    compared = 0
    for table in sorted(_tables(con, "duckdb") - set(CIRCLE_TABLES) - set(RUN_TABLES)
                        - {"graph_features"}):
        ours, theirs = f"duckdb.{table}", f"spark.{table}"
        assert ([name for name, _ in columns(con, ours)]
                == [name for name, _ in columns(con, theirs)]), table
        keys = tuple(name for name, kind in columns(con, ours)
                     if kind not in ("DOUBLE", "FLOAT"))
        compared += assert_same_rows(con, ours, theirs, keys) > 0
    assert compared >= 15
    assert count(con, "SELECT * FROM spark.call_edges") > 1_000
    assert count(con, "SELECT * FROM spark.behaviour_monthly") > 300


def test_graph_features_equal_the_embedded_engines(
        warehouses: tuple[duckdb.DuckDBPyConnection, Path, str]) -> None:
    con = warehouses[0]
    names = [name for name, _ in columns(con, "duckdb.graph_features")
             if name not in (*PARTITION_COLUMNS, "pagerank")]
    rows = assert_same_rows(con, "duckdb.graph_features", "spark.graph_features",
                            ("cutoff", "msisdn"), only=names)
    assert rows > 300
    assert count(con, "SELECT * FROM spark.graph_features WHERE churned_neighbours > 0") > 0
    for cutoff, error in con.execute("""
            SELECT o.cutoff, sum(abs(o.pagerank - t.pagerank))
            FROM duckdb.graph_features o JOIN spark.graph_features t USING (cutoff, msisdn)
            GROUP BY ALL""").fetchall():
        assert error <= PAGERANK_BOUND, cutoff


def test_circles_match_the_embedded_engines_by_nmi(
        warehouses: tuple[duckdb.DuckDBPyConnection, Path, str]) -> None:
    con = warehouses[0]
    cutoffs = [row[0] for row in con.execute(
        "SELECT DISTINCT cutoff FROM duckdb.circle_members ORDER BY 1").fetchall()]
    assert len(cutoffs) == 2
    for cutoff in cutoffs:
        pairs = con.execute("""
            SELECT o.circle_id, t.circle_id FROM duckdb.circle_members o
            FULL JOIN spark.circle_members t USING (cutoff, msisdn)
            WHERE cutoff = ?""", [cutoff]).fetchall()
        assert all(ours is not None and theirs is not None for ours, theirs in pairs)
        ours, theirs = zip(*pairs, strict=True)
        assert normalized_mutual_info_score(ours, theirs) >= 0.95, cutoff
    # the circle ids come from the same lineage rules on either engine's partition
    assert count(con, "SELECT * FROM spark.circles") > 0
