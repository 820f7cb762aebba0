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
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import duckdb
import igraph
import numpy as np

from graph import algorithms as alg
from graph.behaviour import build_behaviour_monthly
from graph.callgraph import (
    EDGES_TABLE,
    NODES_TABLE,
    EdgeArrays,
    edge_arrays,
    igraph_from_arrays,
    stage_call_edges,
)
from graph.circles import (
    CIRCLES_TABLE,
    LINEAGE_TABLE,
    MEMBERS_TABLE,
    assign_circle_ids,
    previous_circle_cutoff,
    write_circles,
)
from graph.features import (
    FEATURES_TABLE,
    NEIGHBOURS_TABLE,
    SUBSCRIBERS_TABLE,
    VERTEX_TABLE,
    FeatureSettings,
    churn_activation,
    stage_neighbours,
    stage_subscribers,
    write_graph_features,
)
from graph.prospects import PROSPECTS_TABLE, REFERRERS_TABLE, write_prospects
from graph.warehouse import (
    cutoffs_from,
    forget_cutoffs,
    register_arrow,
    stale_cutoffs,
    table_exists,
)

Progress = Callable[[str], None]


class GraphEngine(Protocol):
    """Another engine computing part of the stage (``graph.spark.stage.SparkStage``).

    It computes the measure ``steps`` it names (the others stay igraph's), the behaviour
    indicators, and replaces its columns of the cut-off's ``graph_features`` rows.
    """

    steps: tuple[str, ...]

    def vertex_measures(self, con: duckdb.DuckDBPyConnection, g: igraph.Graph,
                        weights: np.ndarray, *, cutoff: date, window_months: int | None,
                        resolution: float, seed: int, n_iterations: int
                        ) -> alg.VertexMeasures: ...

    def behaviour_monthly(self, con: duckdb.DuckDBPyConnection, *, cutoff: date) -> int: ...

    def graph_features(self, con: duckdb.DuckDBPyConnection, *, cutoff: date,
                       window_months: int | None, settings: FeatureSettings) -> int: ...

CUTOFF_TABLES = (FEATURES_TABLE, CIRCLES_TABLE, MEMBERS_TABLE, LINEAGE_TABLE, PROSPECTS_TABLE,
                 REFERRERS_TABLE)
"""The tables whose rows of a cut-off :func:`build_graph_stage` replaces."""


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
    #: seconds per step; the worker's steps (when parallel) overlap the others
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0


@contextmanager
def _timed(report: GraphStageReport, step: str, progress: Progress | None) -> Iterator[None]:
    if progress is not None:
        progress(f"graph stage: {step}")
    start = time.perf_counter()
    yield
    report.seconds[step] = report.seconds.get(step, 0.0) + time.perf_counter() - start


PARALLEL_MIN_TIES = 500_000
"""From this many ties on, the stage computes part of the igraph measures in a worker."""

WORKER_STEPS = ("communities", "pagerank", "k-core and clustering")
"""The igraph measures a parallel stage computes in its worker process: Leiden, the longest,
and what balances the two cores against betweenness and DuckDB's steps here."""


@contextmanager
def _worker_measures(arrays: EdgeArrays, *, parallel: bool, **settings: Any
                     ) -> Iterator[Callable[[], alg.VertexMeasures]]:
    """Start :data:`WORKER_STEPS` in a worker process and yield a call that waits for them.

    The worker is spawned (no DuckDB state is copied) and builds its own copy of the graph:
    igraph holds the interpreter lock during each call, so only a second process can use
    the second core. Not parallel: nothing is started and the call gives no measures.
    """
    if not parallel:
        yield alg.VertexMeasures
        return
    # vertex ids fit in 32 bits (igraph's own width): half the bytes to pickle to the worker
    u, v = arrays.u.astype(np.int32), arrays.v.astype(np.int32)
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        future = pool.submit(alg.vertex_measures_of_edges, arrays.n, u, v, arrays.weight,
                             steps=WORKER_STEPS, **settings)
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
    parallel: bool | None = None,
    engine: GraphEngine | None = None,
) -> GraphStageReport:
    """Compute the graph stage as of ``cutoff`` and write its warehouse tables.

    Tables (rows of ``cutoff`` replaced): ``graph_features``, ``circles``,
    ``circle_members``, ``circle_lineage``, ``prospects``, ``prospect_referrers``; and
    ``behaviour_monthly`` for the complete months before the cut-off. ``previous_cutoff``
    names the run circle ids are matched against; by default the latest earlier one.
    ``window_months`` limits the call edges to the last months (default: all before the
    cut-off). ``parallel`` computes :data:`WORKER_STEPS` in a worker process while this
    one computes everything else; the results are the same as in one process. It costs a
    second copy of the edge arrays and the igraph graph (~1.5 GiB at 10M ties) and a second
    or two to start the worker, so by default (None) only graphs of at least
    :data:`PARALLEL_MIN_TIES` ties get one.
    The report's seconds are per step; the worker's overlap the others. ``engine``
    computes its part of the stage instead (:class:`GraphEngine`; never in parallel).
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
    if parallel is None:
        parallel = report.edges >= PARALLEL_MIN_TIES and engine is None
    k = min(settings.betweenness_samples, arrays.n)
    sources = alg.sample_sources(range(arrays.n), k, settings.seed)
    settings_ig = {"betweenness_sources": sources, "resolution": resolution, "seed": seed,
                   "n_iterations": leiden_iterations}
    with _worker_measures(arrays, parallel=parallel, **settings_ig) as from_worker:
        with _timed(report, "subscriber attributes", progress):
            stage_subscribers(con, cutoff=cutoff, settings=settings)
        with _timed(report, "igraph build", progress):
            g = igraph_from_arrays(arrays.n, arrays.u, arrays.v)
        if progress is not None:
            progress("graph stage: igraph measures" + (" (and a worker)" if parallel else ""))
        steps = [s for s in alg.MEASURE_STEPS if not (parallel and s in WORKER_STEPS)
                 and not (engine is not None and s in engine.steps)]
        measures = alg.vertex_measures(g, arrays.weight, steps=steps, **settings_ig)
        if engine is not None:
            measures = measures.merged(engine.vertex_measures(
                con, g, arrays.weight, cutoff=cutoff, window_months=window_months,
                resolution=resolution, seed=seed, n_iterations=leiden_iterations))
        del g
        report.seconds.update(measures.seconds)
        with _timed(report, "churn activation", progress):
            activation = churn_activation(con, arrays, cutoff=cutoff, settings=settings)
        with _timed(report, "neighbour features", progress):
            stage_neighbours(con, arrays, cutoff=cutoff, settings=settings)
        with _timed(report, "prospects", progress):
            report.prospects, report.prospect_referrers = write_prospects(con, cutoff=cutoff)
        with _timed(report, "behaviour", progress):
            report.behaviour_rows = (build_behaviour_monthly(con, cutoff=cutoff)
                                     if engine is None
                                     else engine.behaviour_monthly(con, cutoff=cutoff))
        with _timed(report, "waiting for the worker", progress) if parallel else nullcontext():
            worker = from_worker()
    report.seconds.update({f"{step} (worker)": s for step, s in worker.seconds.items()})
    measures = measures.merged(worker)
    report.modularity = measures.modularity
    with _timed(report, "circles", progress):
        _register_vertices(con, measures, activation)
        report.lineage = assign_circle_ids(con, cutoff=cutoff, previous_cutoff=previous_cutoff)
        report.circles, report.circle_members = write_circles(con, cutoff=cutoff)
    with _timed(report, "neighbour features", progress):
        report.subscribers = write_graph_features(con, cutoff=cutoff)
        if engine is not None:
            engine.graph_features(con, cutoff=cutoff, window_months=window_months,
                                  settings=settings)
    for name in (VERTEX_TABLE, NEIGHBOURS_TABLE, SUBSCRIBERS_TABLE, EDGES_TABLE,
                 NODES_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    report.wall_seconds = time.perf_counter() - started
    return report


def build_graph_cutoffs(
    con: duckdb.DuckDBPyConnection,
    cutoffs: list[date],
    *,
    on_built: Callable[[date, int, int], None] | None = None,
    **options: Any,
) -> list[date]:
    """Build the graph stage for ``cutoffs`` in order; rebuild history an upgrade left stale.

    A new version that writes other columns migrates a table on its first write, and
    the other cut-offs' rows lack the new columns (:func:`graph.features.stale_cutoffs`).
    Every cut-off from the earliest stale one on is then forgotten and built again in
    order, as a first run would (circle ids are matched run to run), so a snapshot never
    mixes versions. ``on_built(cutoff, done, total)`` follows the progress; ``options``
    go to :func:`build_graph_stage`. Returns the cut-offs built, in the order built.
    """
    queue = list(cutoffs)
    built: list[date] = []
    while queue:
        cutoff = queue.pop(0)
        build_graph_stage(con, cutoff=cutoff, **options)
        built.append(cutoff)
        stale = stale_cutoffs(con, CUTOFF_TABLES)
        if stale:
            chain = sorted({*cutoffs_from(con, CUTOFF_TABLES, stale[0]), *queue})
            forget_cutoffs(con, CUTOFF_TABLES, chain)
            queue = chain
        if on_built is not None:
            on_built(cutoff, len(built), len(built) + len(queue))
    return built
