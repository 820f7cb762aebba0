"""The Spark engine computes the embedded engine's tables, row for row.

The synthetic operator is ingested by the DuckDB engine (``run_ingest``); its staged
tables go to Parquet, the Spark engine (``local[2]``) computes the aggregates and graph
features from those files, and every table must equal DuckDB's: ``EXCEPT ALL`` both
ways on the exact columns, floats within 1e-9 relative, PageRank within the bound its
stopping rule guarantees.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sklearn.metrics import normalized_mutual_info_score
from spark_fixtures import (
    assert_same_rows,
    columns,
    count,
    spark,  # noqa: F401  (the session-wide fixture)
)

from graph.algorithms import pagerank_ig
from graph.callgraph import EDGES_TABLE, NODES_TABLE, edge_arrays, igraph_from_arrays
from graph.callgraph import stage_call_edges as duckdb_call_graph
from graph.warehouse import sql_string
from ingest.job import run_ingest
from ingest.synthetic import generate_operator

pytestmark = pytest.mark.spark

CUTOFF = date(2026, 4, 1)
"""The latest cut-off of the three months generated: every month is complete before it."""

LAST_MONTH = date(2026, 3, 1)
PAGERANK_TOL = 1e-9
COPY = "copy:"
"""Prefix of the numbers of the call graph's disjoint copy (the circles' second component)."""


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic operator ingested by DuckDB; its warehouse and staged tables as Parquet."""
    root = tmp_path_factory.mktemp("spark-operator")
    generate_operator(root / "source", subscribers=1000, months=3, seed=5, progress=False)
    result = run_ingest(root / "source", data_dir=root / "data")
    assert result.snapshot is not None
    shutil.copyfile(result.snapshot.warehouse_path, root / "warehouse.duckdb")
    from graph.spark import export_tables

    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        assert set(export_tables(con, root / "staged")) == {
            "cdrs", "subscriptions", "numbers", "data_usage", "churn_events"}
    return root


@pytest.fixture(scope="module")
def spark_tables(spark, operator: Path) -> Path:  # noqa: F811
    """The Spark engine's tables from the staged Parquet files, written as Parquet."""
    from graph.spark import (
        behaviour_monthly,
        call_circles,
        call_edges,
        churn_dates,
        churned_neighbour_exposure,
        degree_strength,
        graph_edges,
        graph_nodes,
        pagerank,
        read_tables,
        usage_monthly,
        write_table,
    )

    staged = read_tables(spark, operator / "staged")
    out = operator / "spark"
    write_table(call_edges(staged["cdrs"]), out, "call_edges")
    write_table(usage_monthly(staged["cdrs"], staged["subscriptions"], staged["data_usage"]),
                out, "usage_monthly")
    write_table(behaviour_monthly(staged["cdrs"], cutoff=CUTOFF, numbers=staged["numbers"],
                                  data_usage=staged["data_usage"]), out, "behaviour_monthly")
    write_table(behaviour_monthly(staged["cdrs"], cutoff=CUTOFF, since=LAST_MONTH,
                                  numbers=staged["numbers"], data_usage=staged["data_usage"]),
                out, "behaviour_last_month")
    edges = graph_edges(spark.read.parquet(str(out / "call_edges.parquet")), cutoff=CUTOFF)
    write_table(edges, out, "graph_edges")
    edges = spark.read.parquet(str(out / "graph_edges.parquet"))
    write_table(graph_nodes(edges, cutoff=CUTOFF, numbers=staged["numbers"]), out,
                "graph_nodes")
    nodes = spark.read.parquet(str(out / "graph_nodes.parquet"))
    write_table(degree_strength(nodes, edges), out, "degree_strength")
    churned = churn_dates(staged["churn_events"], staged["subscriptions"], cutoff=CUTOFF)
    write_table(churned_neighbour_exposure(nodes, edges, churned, cutoff=CUTOFF), out,
                "churn_exposure")
    ranks = pagerank(nodes, edges, tol=PAGERANK_TOL)
    assert ranks.change < PAGERANK_TOL and ranks.iterations < 200
    write_table(ranks.ranks, out, "pagerank")
    # the graph and a disjoint copy: two components, each half the tie strength
    from pyspark.sql import functions as F

    copy = edges.select(*(F.concat(F.lit(COPY), end).alias(end) for end in ("a", "b")),
                        "weight")
    doubled = edges.select("a", "b", "weight").unionByName(copy)
    write_table(call_circles(doubled, resolution=2.0), out, "call_circles")
    return out


@pytest.fixture(scope="module")
def con(operator: Path, spark_tables: Path) -> duckdb.DuckDBPyConnection:
    """The DuckDB warehouse, with the cut-off's call graph staged and the Spark tables as views."""
    connection = duckdb.connect(str(operator / "warehouse.duckdb"))
    duckdb_call_graph(connection, cutoff=CUTOFF)
    for folder in spark_tables.iterdir():
        parts = sql_string(str(folder / "*.parquet"))
        connection.execute(f"CREATE TEMP VIEW spark_{folder.stem} AS "
                           f"SELECT * FROM read_parquet({parts})")
    yield connection
    connection.close()


def test_call_edges_equal_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    assert columns(con, "spark_call_edges") == columns(con, "call_edges")
    rows = assert_same_rows(con, "call_edges", "spark_call_edges", ("month", "a", "b"))
    assert rows > 10_000


def test_usage_monthly_equal_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    # same names in the same order; DuckDB's sums are HUGEINT, Spark's BIGINT
    assert ([name for name, _ in columns(con, "spark_usage_monthly")]
            == [name for name, _ in columns(con, "usage_monthly")])
    rows = assert_same_rows(con, "usage_monthly", "spark_usage_monthly", ("msisdn", "month"))
    assert rows > 2_000
    # the FULL JOIN's two sides both occur: data without calls and calls without data
    assert count(con, "SELECT * FROM spark_usage_monthly WHERE contacts = 0") > 0


def test_behaviour_monthly_equal_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    assert columns(con, "spark_behaviour_monthly") == columns(con, "behaviour_monthly")
    rows = assert_same_rows(con, "behaviour_monthly", "spark_behaviour_monthly",
                            ("msisdn", "month"))
    assert rows > 2_000
    # rows with NULL shares (a single interaction, nothing initiated) are compared too
    assert count(con, "SELECT * FROM spark_behaviour_monthly "
                      "WHERE interevent_seconds_mean IS NULL OR roaming_share IS NULL") > 0


def test_behaviour_since_a_month_equal_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    """An incremental run's months only (``since``): DuckDB's rows of those months."""
    ours = f"(SELECT * FROM behaviour_monthly WHERE month >= DATE '{LAST_MONTH}')"
    assert assert_same_rows(con, ours, "spark_behaviour_last_month", ("msisdn", "month")) > 900


def test_call_graph_equal_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    """The cut-off's ties and vertices: the DuckDB stage's graph_edges and graph_nodes."""
    tie_columns = [name for name, _ in columns(con, "spark_graph_edges")]
    assert set(tie_columns) == {name for name, _ in columns(con, EDGES_TABLE)} - {"u", "v"}
    assert assert_same_rows(con, EDGES_TABLE, "spark_graph_edges", ("a", "b"),
                            only=tie_columns) > 5_000
    assert_same_rows(con, NODES_TABLE, "spark_graph_nodes", ("msisdn",),
                     only=["msisdn", "on_net"])


def test_degree_and_strength_equal_graph_features(con: duckdb.DuckDBPyConnection) -> None:
    names = ["msisdn", "degree", "in_degree", "out_degree", "strength", "strength_in",
             "strength_out", "reciprocity"]
    ours = f"(SELECT * FROM graph_features WHERE cutoff = DATE '{CUTOFF}')"
    theirs = ("(SELECT d.* FROM spark_degree_strength d "
              "JOIN spark_graph_nodes USING (msisdn) WHERE on_net)")
    assert assert_same_rows(con, ours, theirs, ("msisdn",), only=names) == 1000
    assert count(con, f"SELECT * FROM {theirs} WHERE degree = 0") > 0  # isolated lines


def test_churned_neighbours_equal_graph_features(con: duckdb.DuckDBPyConnection) -> None:
    names = ["msisdn", "churned_neighbours", "churned_neighbour_share", "churned_tie_weight",
             "churned_tie_share"]
    ours = f"(SELECT * FROM graph_features WHERE cutoff = DATE '{CUTOFF}')"
    theirs = ("(SELECT c.* FROM spark_churn_exposure c "
              "JOIN spark_graph_nodes USING (msisdn) WHERE on_net)")
    assert assert_same_rows(con, ours, theirs, ("msisdn",), only=names) == 1000
    assert count(con, f"SELECT * FROM {theirs} WHERE churned_neighbours > 0") > 50


def test_pagerank_equals_igraph(con: duckdb.DuckDBPyConnection) -> None:
    """Within the stopping rule's bound of igraph's PageRank on the same graph."""
    arrays = edge_arrays(con)
    exact = pagerank_ig(igraph_from_arrays(arrays.n, arrays.u, arrays.v), arrays.weight)
    con.register("igraph_pagerank", pa.table({"msisdn": pa.array(arrays.msisdn, pa.string()),
                                              "pagerank": exact}))
    ((vertices, error, total),) = con.execute("""
        SELECT count(*), sum(abs(i.pagerank - s.pagerank)), sum(s.pagerank)
        FROM igraph_pagerank i JOIN spark_pagerank s USING (msisdn)""").fetchall()
    assert vertices == arrays.n == count(con, "SELECT * FROM spark_pagerank")
    assert error <= PAGERANK_TOL * 0.85 / (1 - 0.85)
    assert abs(total - 1.0) < 1e-12
    # and the graph stage wrote igraph's figure for the subscribers
    ours = f"(SELECT * FROM graph_features WHERE cutoff = DATE '{CUTOFF}')"
    ((far,),) = con.execute(f"""
        SELECT max(abs(g.pagerank - s.pagerank)) FROM {ours} g
        JOIN spark_pagerank s USING (msisdn)""").fetchall()
    assert far <= PAGERANK_TOL


def test_session_runs_without_ui_or_downloaded_jars(spark) -> None:  # noqa: F811
    conf = spark.sparkContext.getConf()
    assert spark.conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert not conf.contains("spark.jars.packages")
    assert spark.sparkContext.master == "local[2]"


def test_call_circles_match_whole_graph_leiden(con: duckdb.DuckDBPyConnection) -> None:
    """Leiden per connected component against the graph stage's whole-graph Leiden.

    The synthetic operator's graph is one component, so the circles are computed on it
    beside a disjoint copy of it, at resolution 2: each copy then holds half the tie
    strength, runs at 2 × 1/2 = 1, and must find the stage's circles (resolution 1 on
    the graph alone) in both copies."""
    members = count(con, f"SELECT * FROM circle_members WHERE cutoff = DATE '{CUTOFF}'")
    assert count(con, "SELECT * FROM spark_call_circles") == 2 * members
    assert count(con, "SELECT DISTINCT component FROM spark_call_circles") == 2
    assert count(con, "SELECT circle FROM spark_call_circles GROUP BY circle "
                      "HAVING count(DISTINCT component) > 1") == 0
    for prefix in ("", COPY):
        pairs = con.execute(f"""
            SELECT m.circle_id, s.circle FROM circle_members m
            JOIN spark_call_circles s ON s.msisdn = '{prefix}' || m.msisdn
            WHERE m.cutoff = DATE '{CUTOFF}'""").fetchall()
        assert len(pairs) == members
        ours, theirs = zip(*pairs, strict=True)
        assert normalized_mutual_info_score(ours, theirs) >= 0.95
