"""The call graph as of a cut-off on Spark: its ties, its vertices, degree, strength, PageRank.

The same graph as :func:`graph.callgraph.stage_call_edges` (one tie per pair, counts
summed over the complete months before the cut-off, tie strength from
``graph.warehouse``'s weights), kept as DataFrames: nothing is collected to the driver
but a few scalars per PageRank iteration, so the graph may be larger than any one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from graph.spark.tables import count_where
from graph.warehouse import CALL_WEIGHT, MINUTE_WEIGHT, SMS_WEIGHT


def tie_strength(calls: Column, sms: Column, seconds: Column) -> Column:
    """:func:`graph.warehouse.tie_strength_sql` as a Spark column."""
    return (F.lit(CALL_WEIGHT) * calls + F.lit(SMS_WEIGHT) * sms
            + F.lit(MINUTE_WEIGHT) * seconds / F.lit(60.0))


def complete_months(cutoff: date, window_months: int | None = None,
                    column: str = "month") -> Column:
    """:func:`graph.warehouse.months_filter` as a Spark condition."""
    month = F.col(column)
    keep = F.add_months(month, 1) <= F.lit(cutoff)
    if window_months is not None:
        keep = keep & (month >= F.add_months(F.trunc(F.lit(cutoff), "month"),
                                             -int(window_months)))
    return keep


def graph_edges(call_edges: DataFrame, *, cutoff: date,
                window_months: int | None = None) -> DataFrame:
    """One row per tie ``a < b`` as of the cut-off, with ``weight_ab``, ``weight_ba``,
    ``weight`` and ``reciprocity`` (``graph_edges`` of the DuckDB stage, without vertex ids)."""
    sums = ("calls_ab", "calls_ba", "seconds_ab", "seconds_ba", "sms_ab", "sms_ba")
    pairs = (call_edges.where(complete_months(cutoff, window_months))
             .groupBy("a", "b")
             .agg(*(F.sum(name).cast("bigint").alias(name) for name in sums),
                  F.sum(F.coalesce("night_calls", F.lit(0))).cast("bigint").alias("night_calls"),
                  F.sum(F.coalesce("roaming_calls", F.lit(0))).cast("bigint")
                  .alias("roaming_calls"),
                  F.max("month").alias("last_month"),
                  F.count(F.lit(1)).alias("months_active")))
    w_ab = tie_strength(F.col("calls_ab"), F.col("sms_ab"), F.col("seconds_ab"))
    w_ba = tie_strength(F.col("calls_ba"), F.col("sms_ba"), F.col("seconds_ba"))
    return (pairs.withColumn("weight_ab", w_ab.cast("double"))
            .withColumn("weight_ba", w_ba.cast("double"))
            .withColumn("weight", (F.col("weight_ab") + F.col("weight_ba")))
            .withColumn("reciprocity", F.when(
                F.greatest("weight_ab", "weight_ba") > 0,
                F.least("weight_ab", "weight_ba") / F.greatest("weight_ab", "weight_ba"))
                .otherwise(0.0)))


def graph_nodes(edges: DataFrame, *, cutoff: date, numbers: DataFrame | None = None
                ) -> DataFrame:
    """The vertices (``msisdn``, ``on_net``): both ends of every tie, and the on-net numbers
    first seen before the cut-off (isolated subscribers are vertices too). Without
    ``numbers`` every number is on-net, as in the DuckDB stage."""
    ends = (edges.select(F.col("a").alias("msisdn"))
            .unionByName(edges.select(F.col("b").alias("msisdn"))))
    if numbers is None:
        return ends.distinct().select("msisdn", F.lit(True).alias("on_net"))
    seen_before = F.col("first_seen").isNull() | (F.col("first_seen") < F.lit(cutoff))
    ids = ends.unionByName(numbers.where(F.col("on_net") & seen_before).select("msisdn"))
    flags = numbers.groupBy("msisdn").agg(F.first("on_net").alias("_on_net"))
    return (ids.distinct().join(flags, "msisdn", "left")
            .select("msisdn", F.coalesce(F.col("_on_net"), F.lit(False)).alias("on_net")))


def _arcs(edges: DataFrame) -> DataFrame:
    """Each tie in both orientations: (msisdn, contact, weight, weight out, weight in)."""
    forward = edges.select(F.col("a").alias("msisdn"), F.col("b").alias("contact"), "weight",
                           F.col("weight_ab").alias("w_out"), F.col("weight_ba").alias("w_in"))
    backward = edges.select(F.col("b").alias("msisdn"), F.col("a").alias("contact"), "weight",
                            F.col("weight_ba").alias("w_out"), F.col("weight_ab").alias("w_in"))
    return forward.unionByName(backward)


def degree_strength(nodes: DataFrame, edges: DataFrame) -> DataFrame:
    """Per vertex: ``degree``, ``in_degree``, ``out_degree``, ``strength``, ``strength_in``,
    ``strength_out`` and ``reciprocity``, as in ``graph_features`` (0 without ties)."""
    w_out, w_in = F.col("w_out"), F.col("w_in")
    sums = _arcs(edges).groupBy("msisdn").agg(
        F.count(F.lit(1)).alias("degree"),
        count_where(w_in > 0).alias("in_degree"),
        count_where(w_out > 0).alias("out_degree"),
        count_where((w_out > 0) & (w_in > 0)).alias("_reciprocated"),
        F.sum("weight").alias("strength"), F.sum(w_in).alias("strength_in"),
        F.sum(w_out).alias("strength_out"))
    joined = nodes.select("msisdn").join(sums, "msisdn", "left")
    counts = ("degree", "in_degree", "out_degree")
    strengths = ("strength", "strength_in", "strength_out")
    directed = F.col("in_degree") + F.col("out_degree")
    return joined.select(
        "msisdn",
        *(F.coalesce(F.col(name), F.lit(0)).cast("bigint").alias(name) for name in counts),
        *(F.coalesce(F.col(name), F.lit(0.0)).cast("double").alias(name)
          for name in strengths),
        F.coalesce(F.when(directed > 0, 2.0 * F.col("_reciprocated") / directed), F.lit(0.0))
        .alias("reciprocity"))


@dataclass(frozen=True)
class PageRankResult:
    """PageRank per vertex (``msisdn``, ``pagerank``) and how the iteration ended."""

    ranks: DataFrame
    iterations: int
    #: Σ |change| of the last iteration
    change: float


def pagerank(nodes: DataFrame, edges: DataFrame, *, alpha: float = 0.85, tol: float = 1e-9,
             max_iter: int = 200, check_every: int = 5) -> PageRankResult:
    """Weighted PageRank of the undirected call graph by power iteration on DataFrames.

    The fixed point :func:`graph.algorithms.pagerank_ig` (and ``networkx.pagerank``)
    computes: a vertex passes ``alpha`` of its rank to its contacts in proportion to tie
    strength; the rest, and all of a vertex without ties (dangling), is spread uniformly
    over every vertex. Iterates until the ranks change by less than ``tol`` in total (L1,
    looked at every ``check_every`` iterations): the result is then within about
    ``tol × alpha / (1 − alpha)`` of the fixed point in total. Each iteration is one join
    and one GROUP BY over the ties, and one Spark job: the ranks are checkpointed so the
    plan does not grow, and the dangling mass needs no job, because on an undirected graph
    a vertex without ties receives nothing but the uniform share (its rank is known).
    ``nodes`` must hold both ends of every tie (:func:`graph_nodes` does).
    """
    vertices = nodes.select("msisdn").distinct()
    n = vertices.count()
    spark = nodes.sparkSession
    if n == 0:
        empty = spark.createDataFrame([], "msisdn string, pagerank double")
        return PageRankResult(empty, 0, 0.0)
    arcs = _arcs(edges).where(F.col("weight") > 0).select("msisdn", "contact", "weight")
    strength = arcs.groupBy("msisdn").agg(F.sum("weight").alias("_strength"))
    share = (arcs.join(strength, "msisdn")
             .select(F.col("msisdn").alias("src"), F.col("contact").alias("msisdn"),
                     (F.col("weight") / F.col("_strength")).alias("share"))
             .localCheckpoint())
    ranks = vertices.select("msisdn", F.lit(1.0 / n).alias("pagerank")).localCheckpoint()
    dangling_vertices = n - strength.count()
    dangling = dangling_vertices / n  # the rank mass on vertices without ties
    change, iterations = float("inf"), 0
    while iterations < max_iter and change >= tol:
        spread = (alpha * dangling + 1.0 - alpha) / n
        received = (share.join(ranks.select(F.col("msisdn").alias("src"), "pagerank"), "src")
                    .groupBy("msisdn")
                    .agg(F.sum(F.col("share") * F.col("pagerank")).alias("received")))
        updated = ranks.join(received, "msisdn", "left").select(
            "msisdn",
            (F.lit(alpha) * F.coalesce(F.col("received"), F.lit(0.0)) + F.lit(spread))
            .alias("pagerank"),
            F.col("pagerank").alias("_before")).localCheckpoint()
        dangling = dangling_vertices * spread
        iterations += 1
        if iterations % check_every == 0 or iterations == max_iter:
            ((change,),) = updated.agg(
                F.sum(F.abs(F.col("pagerank") - F.col("_before")))).collect()
        ranks = updated.drop("_before")
    return PageRankResult(ranks.select("msisdn", "pagerank"), iterations, float(change))
