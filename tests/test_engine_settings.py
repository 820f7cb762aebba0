"""The engine setting: read from a config file, overridden by flags, checked before a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ingest_fixtures import write_source
from typer.testing import CliRunner

from api.cli import app
from graph.engine import BASE_SPARK_CONF, EngineSettings, SparkSettings
from graph.snapshot import SnapshotStore

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


def test_settings_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "callcircle.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    assert EngineSettings.from_file(path) == EngineSettings.from_config(yaml.safe_load(CONFIG))
    assert EngineSettings.from_file(None) == EngineSettings()
    path.write_text("- engine: spark\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a mapping"):
        EngineSettings.from_file(path)
    with pytest.raises(ValueError, match="cannot read"):
        EngineSettings.from_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("command", "flags", "config", "message"), [
    ("ingest", ["--engine", "flink"], None, "not one of duckdb, spark"),
    ("train", [], "engine: spark\nspark:\n  conf:\n    spark.jars.packages: graphframes\n",
     "download jars"),
    ("score", ["--engine", "sparc"], "engine: spark\n", "not one of duckdb, spark"),
    ("demo", [], "engine: spark\nspark:\n  masters: yarn\n", "unknown settings"),
])
def test_commands_refuse_bad_engine_settings_before_any_run(
        tmp_path: Path, command: str, flags: list[str], config: str | None, message: str
) -> None:
    args = [command, *([str(tmp_path / "source")] if command == "ingest" else []),
            "--data-dir", str(tmp_path / "data"), *flags]
    if config is not None:
        (tmp_path / "callcircle.yaml").write_text(config, encoding="utf-8")
        args += ["--config", str(tmp_path / "callcircle.yaml")]
    shown = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert shown.exit_code == 2
    assert message in " ".join(shown.output.split())
    assert not (tmp_path / "data").exists() and not (tmp_path / "source").exists()


def test_engine_flag_overrides_the_config_file(tmp_path: Path) -> None:
    """A config naming Spark with ``--engine duckdb``: the run is the embedded engine's."""
    write_source(tmp_path / "source")
    (tmp_path / "callcircle.yaml").write_text("engine: spark\nspark:\n  master: yarn\n",
                                              encoding="utf-8")
    shown = CliRunner().invoke(app, [
        "ingest", str(tmp_path / "source"), "--data-dir", str(tmp_path / "data"),
        "--config", str(tmp_path / "callcircle.yaml"), "--engine", "duckdb"],
        env={"CALLCIRCLE_NO_PROGRESS": "1", "COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    snapshot = SnapshotStore(tmp_path / "data").current()
    assert snapshot is not None
    assert snapshot.manifest["engines"] == {}
    assert not (snapshot.path / "spark").exists()
    assert "computed by" not in shown.output
