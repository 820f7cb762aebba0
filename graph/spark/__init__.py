"""The scale-out engine: the warehouse's aggregates and graph features on Apache Spark.

The same tables as the embedded engine (DuckDB, igraph), computed as Spark DataFrames
from DataFrames of the staged tables, for operators past what one server holds. PySpark
is the optional extra ``callcircle[spark]``; importing this package needs it, nothing
else in the project imports it. What runs here and how to run it on a cluster:
docs/scale-out.md.
"""

from graph.spark.callgraph import (
    PageRankResult,
    degree_strength,
    graph_edges,
    graph_nodes,
    pagerank,
    tie_strength,
)
from graph.spark.circles import call_circles, connected_components
from graph.spark.features import churn_dates, churned_neighbour_exposure
from graph.spark.io import STAGED_TABLES, export_tables, read_tables, write_table
from graph.spark.session import SparkSettings, spark_session
from graph.spark.sql import UntranslatableSQL, check_functions, spark_sql
from graph.spark.stage import SparkStage
from graph.spark.tables import (
    behaviour_monthly,
    call_edges,
    on_net_numbers,
    usage_monthly,
)

__all__ = [
    "STAGED_TABLES",
    "PageRankResult",
    "SparkSettings",
    "SparkStage",
    "UntranslatableSQL",
    "behaviour_monthly",
    "call_circles",
    "call_edges",
    "check_functions",
    "churn_dates",
    "churned_neighbour_exposure",
    "connected_components",
    "degree_strength",
    "export_tables",
    "graph_edges",
    "graph_nodes",
    "on_net_numbers",
    "pagerank",
    "read_tables",
    "spark_session",
    "spark_sql",
    "tie_strength",
    "usage_monthly",
    "write_table",
]
