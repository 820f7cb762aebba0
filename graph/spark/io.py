"""Tables between the embedded warehouse and the Spark engine, as Parquet folders.

Parquet is what both engines read and write natively: DuckDB's ``TIMESTAMP`` travels as
Parquet's zone-less timestamp and comes back to Spark as ``timestamp_ntz`` (see
``graph.engine.BASE_SPARK_CONF``), Spark's output reads back into DuckDB with the same
types, so the API, the knowledge graph and the report can read either engine's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
from pyspark.sql import DataFrame, SparkSession

from graph.warehouse import sql_string, table_exists

STAGED_TABLES = ("cdrs", "subscriptions", "numbers", "data_usage", "churn_events")
"""The warehouse tables the Spark engine's aggregates and graph features start from."""


def export_tables(con: duckdb.DuckDBPyConnection, folder: Path,
                  tables: Iterable[str] = STAGED_TABLES) -> dict[str, Path]:
    """Write each of ``tables`` the warehouse holds to ``folder/<table>.parquet``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for table in tables:
        if not table_exists(con, table):
            continue
        path = folder / f"{table}.parquet"
        con.execute(f"COPY {table} TO {sql_string(str(path))} (FORMAT parquet)")
        written[table] = path
    return written


def read_tables(spark: SparkSession, folder: Path,
                tables: Iterable[str] = STAGED_TABLES) -> dict[str, DataFrame]:
    """The ``folder/<table>.parquet`` files (or Spark's folders of parts) there are."""
    folder = Path(folder)
    return {table: spark.read.parquet(str(folder / f"{table}.parquet"))
            for table in tables if (folder / f"{table}.parquet").exists()}


def write_table(frame: DataFrame, folder: Path, table: str) -> Path:
    """Write a DataFrame to ``folder/<table>.parquet`` (a folder of parts), replacing it."""
    path = Path(folder) / f"{table}.parquet"
    frame.write.mode("overwrite").parquet(str(path))
    return path
