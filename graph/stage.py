"""The graph stage of a snapshot: call graph, behaviour, features, call circles, prospects.

One entry point, :func:`build_graph_stage`, that ingest's periodic job calls after loading
the warehouse. It is idempotent per cut-off: each table's rows of that cut-off are
replaced, other cut-offs stay (they are the history circles keep their ids against).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np

from graph import algorithms as alg
from graph.behaviour import build_behaviour_monthly
from graph.callgraph import (
    EDGES_TABLE,
    NODES_TABLE,
    EdgeArrays,
    edge_arrays,
    stage_call_edges,
    table_exists,
)
from graph.circles import (
    assign_circle_ids,
    previous_circle_cutoff,
    write_circles,
)
from graph.features import (
    NEIGHBOURS_TABLE,
    SUBSCRIBERS_TABLE,
    VERTEX_TABLE,
    FeatureSettings,
    churn_activation,
    register_arrow,
    stage_neighbours,
    stage_subscribers,
    write_graph_features,
)
from graph.prospects import write_prospects

Progress = Callable[[str], None]


@dataclass
class GraphStageReport:
    """What the graph stage built, for the run report."""

    cutoff: date
    previous_cutoff: date | None
    nodes: int = 0
    edges: int = 0
    subscribers: int = 0
    behaviour_rows: int = 0
    circles: int = 0
    circle_members: int = 0
    modularity: float = 0.0
    lineage: dict[str, int] = field(default_factory=dict)
    prospects: int = 0
    prospect_referrers: int = 0
    #: seconds per step; steps overlap when the igraph measures run in a worker process
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0


@contextmanager
def _timed(report: GraphStageReport, step: str, progress: Progress | None) -> Iterator[None]:
    if progress is not None:
        progress(f"graph stage: {step}")
    start = time.perf_counter()
    yield
    report.seconds[step] = report.seconds.get(step, 0.0) + time.perf_counter() - start


@contextmanager
def _vertex_measures(arrays: EdgeArrays, *, parallel: bool, **kwargs: Any
                     ) -> Iterator[Callable[[], alg.VertexMeasures]]:
    """Start :func:`graph.algorithms.vertex_measures` and yield a call that waits for it.

    In parallel it runs in a fresh worker process (spawned, so no DuckDB state is copied)
    while the caller keeps DuckDB busy: igraph holds the interpreter lock and uses one core,
    DuckDB releases it and uses the others. Otherwise it runs right away, in this process.
    """
    if not parallel:
        measures = alg.vertex_measures(arrays.n, arrays.u, arrays.v, arrays.weight, **kwargs)
        yield lambda: measures
        return
    # vertex ids fit in 32 bits (igraph's own width): half the bytes to pickle to the worker
    u, v = arrays.u.astype(np.int32), arrays.v.astype(np.int32)
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        future = pool.submit(alg.vertex_measures, arrays.n, u, v, arrays.weight, **kwargs)
        del u, v
        yield future.result


def _register_vertices(con: duckdb.DuckDBPyConnection, measures: alg.VertexMeasures,
                       activation: np.ndarray) -> None:
    register_arrow(con, VERTEX_TABLE, {
        "vid": np.arange(len(activation), dtype=np.int64),
        "pagerank": measures.pagerank,
        "core_number": measures.core_number,
        "clustering": measures.clustering,
        "betweenness": measures.betweenness,
        "community": measures.community,
        "churn_activation": activation,
    })


def build_graph_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    cutoff: date,
    previous_cutoff: date | None = None,
    resolution: float = 1.0,
    seed: int = 0,
    progress: Progress | None = None,
    window_months: int | None = None,
    settings: FeatureSettings | None = None,
    leiden_iterations: int = 2,
    parallel: bool = False,
) -> GraphStageReport:
    """Compute the graph stage as of ``cutoff`` and write its warehouse tables.

    Tables (rows of ``cutoff`` replaced): ``graph_features``, ``circles``,
    ``circle_members``, ``circle_lineage``, ``prospects``, ``prospect_referrers``; and
    ``behaviour_monthly`` for the complete months before the cut-off. ``previous_cutoff``
    names the run circle ids are matched against; by default the latest earlier one.
    ``window_months`` limits the call edges to the last months (default: all before the
    cut-off). ``parallel`` runs the igraph measures in a worker process while DuckDB
    computes the rest; the results are the same. Off by default: at 1M subscribers on a
    quiet 2-core machine it saves a quarter of the wall time, but the two processes peak at
    10 GiB together, and under load it is no faster.
    The report's seconds are per step, and steps overlap when parallel.
    """
    started = time.perf_counter()
    settings = settings or FeatureSettings(seed=seed)
    if previous_cutoff is None:
        previous_cutoff = previous_circle_cutoff(con, cutoff)
    report = GraphStageReport(cutoff=cutoff, previous_cutoff=previous_cutoff)
    if not table_exists(con, "call_edges"):
        raise ValueError("graph stage: the warehouse has no call_edges table; run ingest first")

    with _timed(report, "call edges (DuckDB)", progress):
        report.nodes, report.edges = stage_call_edges(con, cutoff=cutoff,
                                                      window_months=window_months)
        arrays = edge_arrays(con)
    k = min(settings.betweenness_samples, arrays.n)
    sources = alg.sample_sources(range(arrays.n), k, settings.seed)
    if progress is not None:
        progress("graph stage: igraph measures" + (" in a worker process" if parallel else ""))
    with _vertex_measures(arrays, parallel=parallel, betweenness_sources=sources,
                          resolution=resolution, seed=seed,
                          n_iterations=leiden_iterations) as measured:
        # DuckDB's share, while the worker runs igraph
        with _timed(report, "subscriber attributes", progress):
            stage_subscribers(con, cutoff=cutoff, settings=settings)
        with _timed(report, "churn activation", progress):
            activation = churn_activation(con, arrays, cutoff=cutoff, settings=settings)
        with _timed(report, "neighbour features", progress):
            stage_neighbours(con, cutoff=cutoff, settings=settings)
        with _timed(report, "prospects", progress):
            report.prospects, report.prospect_referrers = write_prospects(con, cutoff=cutoff)
        with _timed(report, "behaviour", progress):
            report.behaviour_rows = build_behaviour_monthly(con, cutoff=cutoff)
        with _timed(report, "waiting for igraph", progress):
            measures = measured()
    report.seconds.update(measures.seconds)
    report.modularity = measures.modularity
    with _timed(report, "circles", progress):
        _register_vertices(con, measures, activation)
        report.lineage = assign_circle_ids(con, cutoff=cutoff, previous_cutoff=previous_cutoff)
        report.circles, report.circle_members = write_circles(con, cutoff=cutoff)
    with _timed(report, "neighbour features", progress):
        report.subscribers = write_graph_features(con, cutoff=cutoff)
    for name in (VERTEX_TABLE, NEIGHBOURS_TABLE, SUBSCRIBERS_TABLE, EDGES_TABLE,
                 NODES_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    report.wall_seconds = time.perf_counter() - started
    return report
