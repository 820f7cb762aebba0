"""Benchmark the Spark engine (``local[2]``) against DuckDB on the same Parquet files.

    python -m bench.spark --subscribers 5000 20000 --dir /tmp/bench-spark

For each size: generates the synthetic operator (three months), stages it with the DuckDB
engine (``ingest.load.stage_sources`` and ``ingest.aggregate.build_aggregates``, not
timed) and exports the staged tables to Parquet. Then, in the same run and on those
files, each engine computes the same tables, stage by stage:

- read: DuckDB loads the Parquet files into in-memory tables; Spark counts them;
- call edges, monthly usage (DuckDB: ``build_aggregates``' own per-table seconds),
  behaviour indicators, and the cut-off's call graph with weighted PageRank (DuckDB:
  ``stage_call_edges`` and igraph; Spark: ``graph_edges``, ``graph_nodes`` and
  ``pagerank`` by DataFrame iterations to 1e-9).

DuckDB keeps its results in memory; Spark writes them to Parquet (what a cluster job
does). Prints seconds and input rows per second per core (both engines use 2 cores).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import date
from pathlib import Path

import duckdb

from graph.algorithms import pagerank_ig
from graph.behaviour import build_behaviour_monthly
from graph.callgraph import edge_arrays, igraph_from_arrays, stage_call_edges
from graph.warehouse import sql_string
from ingest.aggregate import build_aggregates
from ingest.load import stage_sources
from ingest.synthetic import generate_operator

CUTOFF = date(2026, 4, 1)
CORES = 2
STAGES = ("read", "call edges", "monthly usage", "behaviour indicators",
          "call graph + PageRank")


def prepare(root: Path, subscribers: int) -> Path:
    """The operator's staged tables as Parquet under ``root/staged`` (reused if there)."""
    staged = root / "staged"
    if (staged / "cdrs.parquet").exists():
        return staged
    shutil.rmtree(root, ignore_errors=True)
    generate_operator(root / "source", subscribers=subscribers, months=3, seed=0,
                      progress=False)
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        stage_sources(con, root / "source", run_id="bench")
        build_aggregates(con)
        from graph.spark import export_tables

        export_tables(con, staged)
    return staged


def run_duckdb(staged: Path) -> tuple[dict[str, float], dict[str, int]]:
    seconds: dict[str, float] = {}
    con = duckdb.connect()
    started = time.perf_counter()
    for table in ("cdrs", "subscriptions", "numbers", "data_usage"):
        path = sql_string(str(staged / f"{table}.parquet"))
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet({path})")
    seconds["read"] = time.perf_counter() - started
    report = build_aggregates(con)
    seconds["call edges"] = report.seconds["call_edges"]
    seconds["monthly usage"] = report.seconds["usage_monthly"]
    started = time.perf_counter()
    build_behaviour_monthly(con, cutoff=CUTOFF)
    seconds["behaviour indicators"] = time.perf_counter() - started
    started = time.perf_counter()
    stage_call_edges(con, cutoff=CUTOFF)
    arrays = edge_arrays(con)
    pagerank_ig(igraph_from_arrays(arrays.n, arrays.u, arrays.v), arrays.weight)
    seconds["call graph + PageRank"] = time.perf_counter() - started
    rows = {"cdrs": con.execute("SELECT count(*) FROM cdrs").fetchall()[0][0],
            "call_edges": con.execute("SELECT count(*) FROM call_edges").fetchall()[0][0],
            "ties": arrays.m}
    con.close()
    return seconds, rows


def run_spark(spark, staged: Path, out: Path) -> tuple[dict[str, float], int]:
    from graph.spark import (
        behaviour_monthly,
        call_edges,
        graph_edges,
        graph_nodes,
        pagerank,
        read_tables,
        usage_monthly,
        write_table,
    )

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    tables = read_tables(spark, staged)
    for frame in tables.values():
        frame.count()
    seconds["read"] = time.perf_counter() - started
    cdrs = tables["cdrs"]
    timed = (
        ("call edges", "call_edges", lambda: call_edges(cdrs)),
        ("monthly usage", "usage_monthly",
         lambda: usage_monthly(cdrs, tables["subscriptions"], tables["data_usage"])),
        ("behaviour indicators", "behaviour_monthly",
         lambda: behaviour_monthly(cdrs, cutoff=CUTOFF, numbers=tables["numbers"],
                                   data_usage=tables["data_usage"])),
    )
    for stage, table, frame in timed:
        started = time.perf_counter()
        write_table(frame(), out, table)
        seconds[stage] = time.perf_counter() - started
    started = time.perf_counter()
    edges_path = write_table(graph_edges(spark.read.parquet(str(out / "call_edges.parquet")),
                                         cutoff=CUTOFF), out, "graph_edges")
    edges = spark.read.parquet(str(edges_path))
    nodes_path = write_table(graph_nodes(edges, cutoff=CUTOFF, numbers=tables["numbers"]),
                             out, "graph_nodes")
    ranks = pagerank(spark.read.parquet(str(nodes_path)), edges, tol=1e-9)
    write_table(ranks.ranks, out, "pagerank")
    seconds["call graph + PageRank"] = time.perf_counter() - started
    return seconds, ranks.iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/callcircle-bench-spark"))
    parser.add_argument("--master", default=f"local[{CORES}]")
    args = parser.parse_args()
    from graph.spark import SparkSettings, spark_session

    started = time.perf_counter()
    spark = spark_session(SparkSettings(master=args.master, shuffle_partitions=2 * CORES))
    print(f"Spark session ({spark.version}, {args.master}): "
          f"{time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}")
    for subscribers in args.subscribers:
        root = args.dir / f"operator-{subscribers}"
        staged = prepare(root, subscribers)
        duck, rows = run_duckdb(staged)
        sparks, iterations = run_spark(spark, staged, root / "spark")
        print(f"\n{subscribers:,} subscribers: {rows['cdrs']:,} CDRs, "
              f"{rows['call_edges']:,} call edges, {rows['ties']:,} ties "
              f"(PageRank: {iterations} Spark iterations); "
              f"load average {os.getloadavg()[0]:.1f}")
        print("| stage | DuckDB s | Spark s | Spark / DuckDB | DuckDB rows/s/core "
              "| Spark rows/s/core |\n| --- | ---: | ---: | ---: | ---: | ---: |")
        for stage in STAGES:
            n = rows["call_edges"] if stage == "call graph + PageRank" else rows["cdrs"]
            print(f"| {stage} | {duck[stage]:.2f} | {sparks[stage]:.2f} "
                  f"| {sparks[stage] / duck[stage]:.1f}× | {n / duck[stage] / CORES:,.0f} "
                  f"| {n / sparks[stage] / CORES:,.0f} |")
    spark.stop()


if __name__ == "__main__":
    main()
