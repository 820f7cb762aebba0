"""Which engine computes a snapshot's tables: DuckDB on this machine, or Spark on a cluster.

The settings only; they import no engine, so a configuration naming Spark is read and
checked on a machine without PySpark. The Spark engine itself is ``graph.spark``
(docs/scale-out.md). In a config file::

    engine: spark                  # duckdb (default) | spark
    spark:
      master: yarn                 # local[2], spark://host:7077, yarn, k8s://https://host:6443
      shuffle_partitions: 400
      conf:                        # any further Spark conf
        spark.executor.memory: 8g
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENGINES = ("duckdb", "spark")
"""The engines a snapshot's tables can be computed by; the first is the default."""

#: conf every Spark session gets; a setting's ``conf`` may override any of them
BASE_SPARK_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # DuckDB writes TIMESTAMP as Parquet's zone-less timestamp; read it back as such
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}

#: Spark conf that would make Spark download code at run time
FORBIDDEN_SPARK_CONF = ("spark.jars.packages", "spark.jars.repositories",
                        "spark.jars.ivySettings")


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
        if bad := sorted(set(self.conf) & set(FORBIDDEN_SPARK_CONF)):
            raise ValueError(f"Spark conf {bad} would download jars at run time; "
                             "install what the job needs on the cluster instead")
        return {**BASE_SPARK_CONF,
                "spark.sql.shuffle.partitions": str(int(self.shuffle_partitions)),
                **{key: str(value) for key, value in self.conf.items()}}


@dataclass(frozen=True)
class EngineSettings:
    """The ``engine`` and ``spark`` entries of a config file, and the flags that override them."""

    engine: str = ENGINES[0]
    spark: SparkSettings = field(default_factory=SparkSettings)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine {self.engine!r} is not one of {', '.join(ENGINES)}")
        self.spark.session_conf()  # refuses conf that downloads jars, before any run

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> EngineSettings:
        """Read ``engine`` and ``spark`` from a parsed config file (other keys are not ours)."""
        config = config or {}
        raw_spark = config.get("spark") or {}
        if not isinstance(raw_spark, Mapping):
            raise ValueError("spark: expected a mapping (master, shuffle_partitions, conf)")
        known = {f.name for f in fields(SparkSettings)}
        if unknown := sorted(set(raw_spark) - known):
            raise ValueError(f"spark: unknown settings {unknown}; known: {sorted(known)}")
        conf = raw_spark.get("conf") or {}
        if not isinstance(conf, Mapping):
            raise ValueError("spark.conf: expected a mapping of Spark conf keys to values")
        spark = SparkSettings(**{**raw_spark,
                                 "conf": {str(k): str(v) for k, v in conf.items()}})
        return cls(engine=str(config.get("engine", ENGINES[0])), spark=spark)

    @classmethod
    def from_file(cls, path: Path | None) -> EngineSettings:
        """:meth:`from_config` of a YAML file (None: the defaults)."""
        if path is None:
            return cls()
        import yaml

        try:
            parsed = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"{path}: cannot read the settings ({error})") from None
        if parsed is not None and not isinstance(parsed, Mapping):
            raise ValueError(f"{path}: expected a mapping of settings at the top level")
        return cls.from_config(parsed)

    def overridden(self, *, engine: str | None = None, spark_master: str | None = None
                   ) -> EngineSettings:
        """These settings with the command line's ``--engine``/``--spark-master`` applied."""
        spark = self.spark if spark_master is None else replace(self.spark, master=spark_master)
        return replace(self, engine=self.engine if engine is None else engine, spark=spark)


def scale_out_stage(settings: EngineSettings | None, snapshot_path: Path) -> Any:
    """The other engine's part of an ingest run building ``snapshot_path``, or None.

    None for ``engine: duckdb``; for ``engine: spark`` a ``graph.spark.stage.SparkStage``
    writing into the snapshot (its session starts when first used; ``close()`` ends it).
    The one place the pipeline chooses an engine; PySpark is imported only here.
    """
    if settings is None or settings.engine == "duckdb":
        return None
    try:
        from graph.spark.stage import spark_stage
    except ImportError as error:
        raise RuntimeError(f"engine: spark needs PySpark ({error}); install the extra with "
                           "pip install 'callcircle[spark]' and Java 17") from None
    return spark_stage(settings.spark, snapshot_path)
