"""The Spark session the scale-out engine runs in, from ``graph.engine.SparkSettings``.

Nothing is fetched at run time: no ``spark.jars.packages`` (GraphFrames and other jars
would be downloaded by Spark itself), the web UI is off, times are read and written in
UTC so that DuckDB's zone-less ``TIMESTAMP`` columns keep their wall-clock values.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from graph.engine import SparkSettings


def spark_session(settings: SparkSettings | None = None) -> SparkSession:
    """A Spark session on ``settings.master`` (the running one if a session exists).

    A session started on ``local[…]`` takes 15–20 s here (JVM start); start one per
    process and pass it to the engine's functions.
    """
    settings = settings or SparkSettings()
    if settings.master.startswith("local"):
        # Python workers (applyInPandas) run this interpreter, with igraph and the project
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    for key, value in settings.session_conf().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
