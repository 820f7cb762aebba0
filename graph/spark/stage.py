"""The Spark engine's part of an ingest run: the tables it computes, into the building snapshot.

With ``engine: spark`` the ingest job stages the sources as before, then hands the
warehouse to :class:`SparkStage`: the staged tables go to Parquet inside the building
snapshot (``spark/staged/``), Spark computes its tables from them and writes each as
Parquet beside them (``spark/<table>.parquet``, per cut-off ``spark/as-of-YYYY-MM-DD/``), and the
warehouse loads them, so the API, the knowledge graph and the report read one warehouse
whichever engine computed it. Everything stays inside the building snapshot, published
(or removed) with it. What runs where: :data:`SPARK_TABLES`, :data:`DUCKDB_TABLES`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import igraph
import numpy as np
from pyspark.sql import DataFrame, SparkSession

from graph import algorithms as alg
from graph.behaviour import BEHAVIOUR_TABLE, ensure_behaviour_table
from graph.callgraph import NODES_TABLE
from graph.engine import SparkSettings
from graph.features import FEATURES_TABLE, FeatureSettings
from graph.spark.callgraph import degree_strength, graph_edges, graph_nodes, pagerank
from graph.spark.circles import call_circles
from graph.spark.features import churn_dates, churned_neighbour_exposure
from graph.spark.io import export_tables, read_tables, write_table
from graph.spark.session import spark_session
from graph.spark.tables import behaviour_monthly, call_edges, usage_monthly
from graph.warehouse import sql_date, sql_string

SPARK_FOLDER = "spark"
"""The building snapshot's folder of the Spark engine's Parquet tables."""

SPARK_TABLES = ("call_edges", "usage_monthly", "behaviour_monthly",
                "graph_features: degree, in_degree, out_degree, strength, strength_in, "
                "strength_out, reciprocity, pagerank, churned_neighbours, "
                "churned_neighbour_share, churned_tie_weight, churned_tie_share",
                "circle_members: the partition (Leiden per connected component)")
"""What the Spark engine computes in an ingest run (the report's and the manifest's words)."""

DUCKDB_TABLES = ("staging, validation and quarantine", "numbers (carrier lookup)",
                 "graph_features: the other columns (clustering, k-core, betweenness, "
                 "on-net shares, neighbour means and plans, circle figures, "
                 "churn activation)",
                 "circle ids and lineage, circles, prospects", "the knowledge graph")
"""What still runs on the embedded engine when ``engine: spark`` (docs/scale-out.md)."""

FEATURE_COLUMNS = ("degree", "in_degree", "out_degree", "strength", "strength_in",
                   "strength_out", "reciprocity", "churned_neighbours",
                   "churned_neighbour_share", "churned_tie_weight", "churned_tie_share")
"""The ``graph_features`` columns Spark's values replace (PageRank comes in the measures)."""

STAGED_INPUTS = ("cdrs", "subscriptions", "data_usage", "churn_events")


@dataclass
class _CutoffGraph:
    cutoff: date
    ties: DataFrame
    nodes: DataFrame


@dataclass
class SparkStage:
    """One ingest run's Spark engine, writing into ``folder`` (inside the building snapshot).

    The session starts when first needed (or is the running one) and :meth:`close` stops
    it only if this stage started it (also a context manager); the staged copies are
    removed then (they repeat the warehouse), the computed tables stay in the snapshot.
    """

    settings: SparkSettings
    folder: Path
    #: the measure steps of :func:`graph.algorithms.vertex_measures` this engine computes
    steps: tuple[str, ...] = ("pagerank", "communities")
    pagerank_tol: float = 1e-9
    spark: SparkSession | None = None
    _started: bool = False
    _staged: dict[str, DataFrame] = field(default_factory=dict)
    _graph: _CutoffGraph | None = None

    def start(self) -> SparkStage:
        """Start (or join) the session; the first table computed calls it."""
        if self.spark is None:
            self._started = SparkSession.getActiveSession() is None
            self.spark = spark_session(self.settings)
            self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def close(self) -> None:
        """Remove the staged copies; stop the session if this stage started it."""
        shutil.rmtree(self.folder / "staged", ignore_errors=True)
        if self._started and self.spark is not None:
            self.spark.stop()
        self.spark, self._started, self._graph = None, False, None
        self._staged = {}

    def __enter__(self) -> SparkStage:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # --- aggregates ------------------------------------------------------------------

    def aggregates(self, con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
        """Compute ``call_edges`` and ``usage_monthly`` on Spark and load them into the
        warehouse; returns their names (what :func:`ingest.aggregate.build_aggregates`
        then leaves alone)."""
        export_tables(con, self.folder / "staged", STAGED_INPUTS)
        self._staged = read_tables(self._session(), self.folder / "staged", STAGED_INPUTS)
        cdrs = self._staged["cdrs"]
        tables = {"call_edges": call_edges(cdrs),
                  "usage_monthly": usage_monthly(cdrs, self._staged["subscriptions"],
                                                 self._staged.get("data_usage"))}
        order = {"call_edges": "month, a, b", "usage_monthly": "msisdn, month"}
        for table, frame in tables.items():
            path = write_table(frame, self.folder, table)
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM "
                        f"{_parquet(path)} ORDER BY {order[table]}")
        self._staged["call_edges"] = self._session().read.parquet(
            str(self.folder / "call_edges.parquet"))
        return tuple(tables)

    # --- the graph stage's hooks (graph.stage.build_graph_stage(engine=…)) -------------

    def vertex_measures(self, con: duckdb.DuckDBPyConnection, g: igraph.Graph,
                        weights: np.ndarray, *, cutoff: date, window_months: int | None,
                        resolution: float, seed: int, n_iterations: int
                        ) -> alg.VertexMeasures:
        """PageRank and the circles of the cut-off's graph, in the stage's vertex order.

        The stage's ``graph_nodes`` (DuckDB) and Spark's vertices must be the same set:
        a vertex Spark did not rank is an error, not a NULL.
        """
        graph = self._cutoff_graph(con, cutoff, window_months)
        out = self.folder / _cutoff_folder(cutoff)
        started = time.perf_counter()
        ranks = pagerank(graph.nodes, graph.ties, tol=self.pagerank_tol)
        ranked = write_table(ranks.ranks, out, "pagerank")
        seconds = {"pagerank (Spark)": time.perf_counter() - started}
        started = time.perf_counter()
        circles = write_table(call_circles(graph.ties, resolution=resolution, seed=seed,
                                           n_iterations=n_iterations), out, "circles")
        seconds["communities (Spark)"] = time.perf_counter() - started
        rows = con.execute(f"""
            SELECT n.vid, p.pagerank, c.circle
            FROM {NODES_TABLE} n
            LEFT JOIN {_parquet(ranked)} p USING (msisdn)
            LEFT JOIN {_parquet(circles)} c USING (msisdn)
            ORDER BY n.vid""").fetchnumpy()
        if len(rows["vid"]) != g.vcount() or np.any(rows["vid"] != np.arange(g.vcount())):
            raise RuntimeError("Spark stage: the warehouse's call graph vertices are not 0..n-1")
        ranked_values = np.ma.getdata(rows["pagerank"]).astype(np.float64)
        if np.ma.is_masked(rows["pagerank"]) and np.ma.getmaskarray(rows["pagerank"]).any():
            raise RuntimeError(f"Spark stage: vertices without a PageRank as of {cutoff}: "
                               "Spark's call graph differs from the warehouse's")
        circle = np.asarray(np.ma.filled(rows["circle"], ""), dtype=object)
        has_circle = circle != ""
        community = np.full(len(circle), -1, dtype=np.int64)
        if has_circle.any():
            _, labels = np.unique(circle[has_circle].astype(str), return_inverse=True)
            community[has_circle] = alg.canonical_labels(labels.astype(np.int64))
        # for modularity only: a vertex without ties is its own community
        alone = np.flatnonzero(~has_circle)
        scored = community.copy()
        scored[alone] = community.max(initial=-1) + 1 + np.arange(len(alone))
        return alg.VertexMeasures(
            pagerank=ranked_values, community=community,
            modularity=alg.modularity_ig(g, scored, weights, resolution),
            seconds=seconds)

    def behaviour_monthly(self, con: duckdb.DuckDBPyConnection, *, cutoff: date) -> int:
        """``behaviour_monthly`` for the complete months before the cut-off, from Spark
        (the rows of those months replaced, as :func:`graph.behaviour.build_behaviour_monthly`)."""
        numbers = self._numbers(con)
        frame = behaviour_monthly(self._staged["cdrs"], cutoff=cutoff, numbers=numbers,
                                  data_usage=self._staged.get("data_usage"))
        path = write_table(frame, self.folder / _cutoff_folder(cutoff),
                           BEHAVIOUR_TABLE)
        ensure_behaviour_table(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _behaviour AS SELECT * FROM {_parquet(path)}")
        con.execute(f"DELETE FROM {BEHAVIOUR_TABLE} WHERE month IN "
                    "(SELECT DISTINCT month FROM _behaviour)")
        con.execute(f"INSERT INTO {BEHAVIOUR_TABLE} BY NAME SELECT * FROM _behaviour")
        ((rows,),) = con.execute("SELECT count(*) FROM _behaviour").fetchall()
        con.execute("DROP TABLE _behaviour")
        return int(rows)

    def graph_features(self, con: duckdb.DuckDBPyConnection, *, cutoff: date,
                       window_months: int | None, settings: FeatureSettings) -> int:
        """Replace the cut-off's :data:`FEATURE_COLUMNS` of ``graph_features`` by Spark's."""
        graph = self._cutoff_graph(con, cutoff, window_months)
        churned = churn_dates(self._staged["churn_events"], self._staged["subscriptions"],
                              cutoff=cutoff)
        exposure = churned_neighbour_exposure(graph.nodes, graph.ties, churned, cutoff=cutoff,
                                              half_life_days=settings.churn_half_life_days)
        frame = degree_strength(graph.nodes, graph.ties).join(exposure, "msisdn")
        path = write_table(frame, self.folder / _cutoff_folder(cutoff),
                           FEATURES_TABLE)
        assignments = ", ".join(f"{name} = s.{name}" for name in FEATURE_COLUMNS)
        con.execute(f"""
            UPDATE {FEATURES_TABLE} SET {assignments}
            FROM {_parquet(path)} s
            WHERE {FEATURES_TABLE}.cutoff = {sql_date(cutoff)}
              AND {FEATURES_TABLE}.msisdn = s.msisdn""")
        ((missing,),) = con.execute(f"""
            SELECT count(*) FROM {FEATURES_TABLE} f
            WHERE f.cutoff = {sql_date(cutoff)} AND f.msisdn NOT IN
                (SELECT msisdn FROM {_parquet(path)})""").fetchall()
        if missing:
            raise RuntimeError(f"Spark stage: {missing} subscribers of graph_features as of "
                               f"{cutoff} are not vertices of Spark's call graph")
        return int(con.execute(f"SELECT count(*) FROM {FEATURES_TABLE} "
                               f"WHERE cutoff = {sql_date(cutoff)}").fetchall()[0][0])

    def engines(self) -> dict[str, list[str]]:
        """What each engine computed, for the run's report and the snapshot's manifest."""
        return {"spark": list(SPARK_TABLES), "duckdb": list(DUCKDB_TABLES)}

    # --- helpers ---------------------------------------------------------------------

    def _session(self) -> SparkSession:
        return self.start().spark  # type: ignore[return-value]

    def _numbers(self, con: duckdb.DuckDBPyConnection) -> DataFrame:
        """``numbers`` as the warehouse built it after the aggregates (DuckDB's table)."""
        if "numbers" not in self._staged:
            export_tables(con, self.folder / "staged", ["numbers"])
            self._staged.update(read_tables(self._session(), self.folder / "staged",
                                            ["numbers"]))
        return self._staged["numbers"]

    def _cutoff_graph(self, con: duckdb.DuckDBPyConnection, cutoff: date,
                      window_months: int | None) -> _CutoffGraph:
        if self._graph is None or self._graph.cutoff != cutoff:
            if "call_edges" not in self._staged:
                raise RuntimeError("Spark stage: the aggregates run on Spark first")
            ties = graph_edges(self._staged["call_edges"], cutoff=cutoff,
                               window_months=window_months).localCheckpoint()
            nodes = graph_nodes(ties, cutoff=cutoff, numbers=self._numbers(con)
                                ).localCheckpoint()
            self._graph = _CutoffGraph(cutoff, ties, nodes)
        return self._graph


def _cutoff_folder(cutoff: date) -> str:
    """A cut-off's tables' folder; not ``key=value``, which readers take for a partition."""
    return f"as-of-{cutoff.isoformat()}"


def _parquet(path: Path) -> str:
    """DuckDB's reader of a Parquet folder Spark wrote."""
    return f"read_parquet({sql_string(str(Path(path) / '*.parquet'))})"


def spark_stage(settings: SparkSettings, snapshot_path: Path, **options: Any) -> SparkStage:
    """The Spark engine of a run building the snapshot at ``snapshot_path``."""
    return SparkStage(settings, Path(snapshot_path) / SPARK_FOLDER, **options)
