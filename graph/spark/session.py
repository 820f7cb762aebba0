"""The Spark session the scale-out engine runs in, from the project's settings.

Nothing is fetched at run time: no ``spark.jars.packages`` (GraphFrames and other jars
would be downloaded by Spark itself), the web UI is off, times are read and written in
UTC so that DuckDB's zone-less ``TIMESTAMP`` columns keep their wall-clock values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

#: conf every session gets; a setting's ``conf`` may override any of them but the jars
BASE_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # DuckDB writes TIMESTAMP as Parquet's zone-less timestamp; read it back as such
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}

#: conf keys that would make Spark download code at run time
FORBIDDEN_CONF = ("spark.jars.packages", "spark.jars.repositories", "spark.jars.ivySettings")


@dataclass(frozen=True)
class SparkSettings:
    """Where and how the Spark engine runs.

    ``master`` is any Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``,
    ``k8s://https://host:6443``); ``conf`` any further Spark conf. ``shuffle_partitions``
    sizes every shuffle: a few for one machine, a few per core of a cluster.
    """

    master: str = "local[2]"
    conf: Mapping[str, str] = field(default_factory=dict)
    shuffle_partitions: int = 8
    app_name: str = "callcircle"

    def session_conf(self) -> dict[str, str]:
        """The whole conf of a session built from these settings."""
        if bad := sorted(set(self.conf) & set(FORBIDDEN_CONF)):
            raise ValueError(f"Spark conf {bad} would download jars at run time; "
                             "install what the job needs on the cluster instead")
        return {**BASE_CONF,
                "spark.sql.shuffle.partitions": str(int(self.shuffle_partitions)),
                **{key: str(value) for key, value in self.conf.items()}}


def spark_session(settings: SparkSettings = SparkSettings()) -> SparkSession:
    """A Spark session on ``settings.master`` (the running one if a session exists).

    A session started on ``local[…]`` takes 15–20 s here (JVM start); start one per
    process and pass it to the engine's functions.
    """
    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    for key, value in settings.session_conf().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
