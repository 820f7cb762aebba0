"""Call circles at scale: the call graph cut into connected components, Leiden per component.

No circle crosses a component (a community is connected), so Leiden can run on each
component on its own, many components at once across the cluster, with igraph inside
``applyInPandas``. Modularity's null model counts the whole graph's tie strength 2m;
a component alone would count only its own, so each component runs at the resolution
γ × m_component / m, which makes its objective the whole graph's restricted to it. What
changes is only where Leiden's random moves take it (``tests/test_spark_engine.py``
measures the NMI against the embedded engine's whole-graph circles).

One component holds most of a call graph: Leiden on it is one task, as long as on the
embedded engine; the components beside it run in parallel with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def connected_components(edges: DataFrame, *, max_iter: int = 100) -> DataFrame:
    """Per vertex with ties (``msisdn``), its component: the smallest number it reaches.

    ``edges`` needs the tie's ends ``a`` and ``b``. Label propagation on DataFrames: every
    vertex takes the smallest label among its own and its contacts', until no label
    changes (as many iterations as the longest shortest path, about a dozen on call
    graphs). Raises if ``max_iter`` is not enough.
    """
    arcs = (edges.select(F.col("a").alias("msisdn"), F.col("b").alias("contact"))
            .unionByName(edges.select(F.col("b").alias("msisdn"), F.col("a").alias("contact")))
            .localCheckpoint())
    labels = arcs.select("msisdn").distinct().select(
        "msisdn", F.col("msisdn").alias("component")).localCheckpoint()
    for _ in range(max_iter):
        offered = (arcs.join(labels.withColumnsRenamed({"msisdn": "contact"}), "contact")
                   .groupBy("msisdn").agg(F.min("component").alias("offered")))
        updated = (labels.join(offered, "msisdn")
                   .select("msisdn", F.least("component", "offered").alias("component"),
                           (F.col("offered") < F.col("component")).alias("_changed"))
                   .localCheckpoint())
        changed = updated.where("_changed").count()
        labels = updated.drop("_changed")
        if changed == 0:
            return labels
    raise RuntimeError(f"connected components: labels still changing after {max_iter} "
                       "iterations; raise max_iter")


def call_circles(edges: DataFrame, *, resolution: float = 1.0, seed: int = 0,
                 n_iterations: int = 2) -> DataFrame:
    """Leiden circles per component: ``msisdn``, ``component``, ``circle`` (``component:label``).

    Only vertices with ties get a circle, as in the embedded engine. Labels within a
    component come from :func:`graph.algorithms.leiden_ig` (largest circle 0), seeded.
    """
    components = connected_components(edges)
    ((total,),) = edges.agg(F.sum("weight")).collect()
    ties = (edges.join(components.withColumnsRenamed({"msisdn": "a"}), "a")
            .select("component", "a", "b", "weight"))

    def leiden(frame: pd.DataFrame) -> pd.DataFrame:
        from graph.algorithms import leiden_ig
        from graph.callgraph import igraph_from_arrays

        names, ends = np.unique(np.concatenate([frame["a"].to_numpy(dtype=object),
                                                frame["b"].to_numpy(dtype=object)]).astype(str),
                                return_inverse=True)
        u, v = ends[:len(frame)], ends[len(frame):]
        weight = frame["weight"].to_numpy(dtype=np.float64)
        share = weight.sum() / total
        labels = leiden_ig(igraph_from_arrays(len(names), u, v), weight,
                           resolution=resolution * share, seed=seed,
                           n_iterations=n_iterations)
        component = frame["component"].iloc[0]
        return pd.DataFrame({"msisdn": names, "component": component,
                             "circle": [f"{component}:{label}" for label in labels]})

    return ties.groupBy("component").applyInPandas(
        leiden, "msisdn string, component string, circle string")
