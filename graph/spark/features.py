"""Graph features on Spark that read more than the ties: the pull of contacts who left.

``churned_neighbours``, ``churned_neighbour_share``, ``churned_tie_weight`` and
``churned_tie_share`` of ``graph_features`` (docs/graph-features.md), with the embedded
engine's meaning (``graph.features.neighbour_aggregates``): a contact counts as churned
when its number's subscription ended in a churn event before the cut-off, and its tie
pulls with its strength × 0.5^(days since the churn / half-life).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from graph.features import FeatureSettings
from graph.spark.callgraph import _arcs
from graph.spark.tables import count_where


def churn_dates(churn_events: DataFrame, subscriptions: DataFrame, *, cutoff: date
                ) -> DataFrame:
    """Per number (``msisdn``), its latest churn before the cut-off (``churn_date``)."""
    return (churn_events.where(F.col("churn_date") < F.lit(cutoff))
            .join(subscriptions.select("subscription_id", "msisdn"), "subscription_id")
            .groupBy("msisdn").agg(F.max("churn_date").alias("churn_date")))


def churned_neighbour_exposure(
    nodes: DataFrame, edges: DataFrame, churned: DataFrame, *, cutoff: date,
    half_life_days: float = FeatureSettings().churn_half_life_days,
) -> DataFrame:
    """Per vertex: contacts who left before the cut-off, their share of the contacts, the
    tie strength to them with each churn's pull decaying by ``half_life_days``, and its
    share of the vertex's strength (0 without ties). ``churned`` is :func:`churn_dates`."""
    days = F.datediff(F.lit(cutoff), F.col("churn_date")).cast("double")
    pull = F.pow(F.lit(0.5), days / F.lit(float(half_life_days)))
    gone = F.col("churn_date").isNotNull()
    sums = (_arcs(edges).join(churned.withColumnsRenamed({"msisdn": "contact"}), "contact",
                              "left")
            .groupBy("msisdn").agg(
                F.count(F.lit(1)).alias("_degree"), F.sum("weight").alias("_strength"),
                count_where(gone).alias("churned_neighbours"),
                F.sum(F.when(gone, F.col("weight") * pull).otherwise(0.0))
                .alias("churned_tie_weight")))
    joined = nodes.select("msisdn").join(sums, "msisdn", "left")
    count = F.coalesce(F.col("churned_neighbours"), F.lit(0)).cast("bigint")
    weight = F.coalesce(F.col("churned_tie_weight"), F.lit(0.0))
    return joined.select(
        "msisdn", count.alias("churned_neighbours"),
        F.coalesce(F.when(F.col("_degree") > 0, count / F.col("_degree")), F.lit(0.0))
        .alias("churned_neighbour_share"),
        weight.alias("churned_tie_weight"),
        F.coalesce(F.when(F.col("_strength") != 0, weight / F.col("_strength")), F.lit(0.0))
        .alias("churned_tie_share"))
