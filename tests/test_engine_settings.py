"""The engine setting: read from a config file, overridden by flags, checked before a run."""

from __future__ import annotations

import pytest
import yaml

from graph.engine import BASE_SPARK_CONF, EngineSettings, SparkSettings

CONFIG = """
engine: spark
spark:
  master: yarn
  shuffle_partitions: 400
  conf:
    spark.executor.memory: 8g
    spark.executor.cores: 4
api_keys: []            # another part's settings, left alone
"""


def test_default_is_the_embedded_engine() -> None:
    settings = EngineSettings.from_config({})
    assert settings == EngineSettings()
    assert settings.engine == "duckdb"
    assert settings.spark.master == "local[2]"


def test_config_file_names_spark_master_and_conf() -> None:
    settings = EngineSettings.from_config(yaml.safe_load(CONFIG))
    assert settings.engine == "spark"
    assert settings.spark.master == "yarn"
    conf = settings.spark.session_conf()
    assert conf["spark.sql.shuffle.partitions"] == "400"
    assert conf["spark.executor.memory"] == "8g"
    assert conf["spark.executor.cores"] == "4"  # YAML's int, as Spark conf text
    assert {key: conf[key] for key in BASE_SPARK_CONF} == BASE_SPARK_CONF
    assert not any(key.startswith("spark.jars") for key in conf)


def test_flags_override_the_file() -> None:
    settings = EngineSettings.from_config(yaml.safe_load(CONFIG))
    local = settings.overridden(spark_master="local[2]")
    assert (local.engine, local.spark.master) == ("spark", "local[2]")
    assert local.spark.conf == settings.spark.conf
    assert settings.overridden(engine="duckdb").engine == "duckdb"
    assert settings.overridden() == settings


@pytest.mark.parametrize(("config", "message"), [
    ({"engine": "flink"}, "not one of duckdb, spark"),
    ({"engine": "spark", "spark": {"conf": {"spark.jars.packages": "graphframes:0.8"}}},
     "download jars"),
    ({"spark": {"masters": "yarn"}}, "unknown settings"),
    ({"spark": "yarn"}, "expected a mapping"),
])
def test_bad_settings_fail_before_any_run(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngineSettings.from_config(config)


def test_flags_are_checked_too() -> None:
    with pytest.raises(ValueError, match="not one of"):
        EngineSettings().overridden(engine="sparc")
    with pytest.raises(ValueError, match="download jars"):
        SparkSettings(conf={"spark.jars.repositories": "https://repo"}).session_conf()
