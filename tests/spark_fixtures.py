"""One Spark session for every Spark test (``@pytest.mark.spark``), on ``local[2]``.

Starting the JVM takes 15–20 s here, so the session is started once per test run and
shared. Without PySpark or Java (an install without the ``spark`` extra) the Spark tests
are skipped, except in CI (``CI`` set), where ``.ci/run`` installs both and they must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest


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
