"""One Spark session for every Spark test (``@pytest.mark.spark``), on ``local[2]``; and
the comparison of an embedded table with the Spark engine's.

Starting the JVM takes 15–20 s here, so the session is started once per test run and
shared. Without PySpark or Java (an install without the ``spark`` extra) the Spark tests
are skipped, except in CI (``CI`` set), where ``.ci/run`` installs both and they must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import duckdb
import pytest

RELATIVE = 1e-9
"""Floats of the two engines agree within this, relative to the larger."""


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    if os.environ.get("CI") is None:
        pytest.importorskip("pyspark", reason="the Spark engine's extra is not installed "
                            "(pip install -e '.[spark]')")
        if shutil.which("java") is None:
            pytest.skip("no Java runtime (apt-get install openjdk-17-jre-headless)")
    from graph.spark import SparkSettings, spark_session

    session = spark_session(SparkSettings(master="local[2]", shuffle_partitions=2))
    yield session
    session.stop()


def columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {relation}").fetchall()]


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]


def assert_same_rows(con: duckdb.DuckDBPyConnection, ours: str, theirs: str,
                     keys: tuple[str, ...], *, only: list[str] | None = None) -> int:
    """``ours`` (DuckDB's) and ``theirs`` (Spark's) hold the same rows: ``EXCEPT ALL`` both
    ways on every non-float column, and each float within 1e-9 relative of its row's
    (rows matched on ``keys``, NULL only against NULL). Returns the number of rows."""
    described = columns(con, ours)
    names = only or [name for name, _ in described]
    kinds = dict(described)
    floats = [name for name in names if kinds[name] in ("DOUBLE", "FLOAT")]
    exact = ", ".join(name for name in names if name not in floats)
    left, right = f"SELECT {exact} FROM {ours}", f"SELECT {exact} FROM {theirs}"
    assert count(con, f"{left} EXCEPT ALL {right}") == 0
    assert count(con, f"{right} EXCEPT ALL {left}") == 0
    rows = count(con, f"SELECT * FROM {ours}")
    assert count(con, f"SELECT * FROM {theirs}") == rows
    on = " AND ".join(f"o.{key} = t.{key}" for key in keys)
    for name in floats:
        far = count(con, f"""
            SELECT * FROM {ours} o JOIN {theirs} t ON {on}
            WHERE NOT ((o.{name} IS NULL AND t.{name} IS NULL)
                       OR abs(o.{name} - t.{name})
                          <= {RELATIVE} * greatest(abs(o.{name}), abs(t.{name})))""")
        assert far == 0, f"{name}: {far} rows differ by more than {RELATIVE} relative"
    return rows
