"""The graph stage of a snapshot: call graph, behaviour, features, call circles, prospects.

One entry point, :func:`build_graph_stage`, that ingest's periodic job calls after loading
the warehouse. It is idempotent per cut-off: each table's rows of that cut-off are
replaced, other cut-offs stay (they are the history circles keep their ids against).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np

from graph import algorithms as alg
from graph.behaviour import build_behaviour_monthly
from graph.callgraph import (
    EDGES_TABLE,
    NODES_TABLE,
    edge_arrays,
    igraph_from_arrays,
    stage_call_edges,
    table_exists,
)
from graph.circles import (
    assign_circle_ids,
    previous_circle_cutoff,
    write_circles,
)
from graph.features import (
    ADJACENCY_TABLE,
    SUBSCRIBERS_TABLE,
    VERTEX_TABLE,
    FeatureSettings,
    churn_activation,
    register_arrow,
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
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


@contextmanager
def _timed(report: GraphStageReport, step: str, progress: Progress | None) -> Iterator[None]:
    if progress is not None:
        progress(f"graph stage: {step}")
    start = time.perf_counter()
    yield
    report.seconds[step] = report.seconds.get(step, 0.0) + time.perf_counter() - start


def _register_vertices(con: duckdb.DuckDBPyConnection, n: int, pagerank: np.ndarray,
                       core: np.ndarray, clustering: np.ndarray, betweenness: np.ndarray,
                       membership: np.ndarray, activation: np.ndarray) -> None:
    register_arrow(con, VERTEX_TABLE, {
        "vid": np.arange(n, dtype=np.int64),
        "pagerank": pagerank,
        "core_number": core,
        "clustering": clustering,
        "betweenness": betweenness,
        "community": membership,
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
) -> GraphStageReport:
    """Compute the graph stage as of ``cutoff`` and write its warehouse tables.

    Tables (rows of ``cutoff`` replaced): ``graph_features``, ``circles``,
    ``circle_members``, ``circle_lineage``, ``prospects``, ``prospect_referrers``; and
    ``behaviour_monthly`` for the complete months before the cut-off. ``previous_cutoff``
    names the run circle ids are matched against; by default the latest earlier one.
    ``window_months`` limits the call edges to the last months (default: all before the
    cut-off).
    """
    settings = settings or FeatureSettings(seed=seed)
    if previous_cutoff is None:
        previous_cutoff = previous_circle_cutoff(con, cutoff)
    report = GraphStageReport(cutoff=cutoff, previous_cutoff=previous_cutoff)
    if not table_exists(con, "call_edges"):
        raise ValueError("graph stage: the warehouse has no call_edges table; run ingest first")

    with _timed(report, "behaviour", progress):
        report.behaviour_rows = build_behaviour_monthly(con, cutoff=cutoff)
    with _timed(report, "call edges (DuckDB)", progress):
        report.nodes, report.edges = stage_call_edges(con, cutoff=cutoff,
                                                      window_months=window_months)
        arrays = edge_arrays(con)
    with _timed(report, "igraph build", progress):
        g = igraph_from_arrays(arrays.n, arrays.u, arrays.v)
        weights = alg.weight_list(arrays.weight)
    with _timed(report, "subscriber attributes", progress):
        stage_subscribers(con, cutoff=cutoff, settings=settings)
    with _timed(report, "pagerank", progress):
        pagerank = alg.pagerank_ig(g, weights)
    with _timed(report, "k-core and clustering", progress):
        core = alg.core_number_ig(g)
        clustering = alg.clustering_ig(g)
    with _timed(report, "betweenness", progress):
        k = min(settings.betweenness_samples, arrays.n)
        sources = alg.sample_sources(range(arrays.n), k, settings.seed)
        betweenness = alg.approx_betweenness_ig(g, sources)
    with _timed(report, "communities", progress):
        membership = alg.leiden_ig(g, weights, resolution=resolution, seed=seed,
                                   n_iterations=leiden_iterations)
        report.modularity = alg.modularity_ig(g, membership, weights, resolution)
        membership[np.asarray(g.degree()) == 0] = -1  # a subscriber without ties has no circle
    with _timed(report, "churn activation", progress):
        activation = churn_activation(con, arrays, cutoff=cutoff, settings=settings)
    del g, weights
    with _timed(report, "circles", progress):
        _register_vertices(con, arrays.n, pagerank, core, clustering, betweenness, membership,
                           activation)
        report.lineage = assign_circle_ids(con, cutoff=cutoff, previous_cutoff=previous_cutoff)
        report.circles, report.circle_members = write_circles(con, cutoff=cutoff)
    with _timed(report, "neighbour features", progress):
        report.subscribers = write_graph_features(con, cutoff=cutoff, settings=settings)
    with _timed(report, "prospects", progress):
        report.prospects, report.prospect_referrers = write_prospects(con, cutoff=cutoff)
    for name in (VERTEX_TABLE, ADJACENCY_TABLE, SUBSCRIBERS_TABLE, EDGES_TABLE, NODES_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    return report
