"""Month files of the big staged tables as Parquet parts, shared between snapshots.

The staged CDRs and data usage are most of a warehouse and never change once their
month is loaded, so a snapshot does not copy them: each source file's rows are one
Parquet file under the snapshot's ``parts/<table>/`` folder, hard-linked from the
previous snapshot when unchanged, and the warehouse holds a view of the same name over
them. The live parts are listed in the ``_parts`` table, so dropping a part is part of
the staging transaction, and a view can be pointed at another folder (a snapshot's
building folder, then its published one) from that list alone.

While a run stages rows, the view also reads ``_<table>_staging``, the temporary table
new rows go to (:func:`write_target`); :func:`seal_parts` then writes them out as parts.
A warehouse whose tables are plain (built before parts, or by hand) works as it is:
:func:`seal_parts` moves their rows into parts at the next run.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import duckdb

from graph.warehouse import quote_ident, sql_string, table_exists

PARTITIONED_TABLES = ("cdrs", "data_usage")
"""Staged tables kept as one Parquet part per source file."""
PARTS_DIR = "parts"
PARTS_TABLE = "_parts"


def staging_table(table: str) -> str:
    """The table a run's new rows of ``table`` go to while its parts are read as they are."""
    return f"_{table}_staging"


def _is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ? "
                       "AND NOT internal", [name]).fetchall()[0][0] > 0


def database_folder(con: duckdb.DuckDBPyConnection) -> Path:
    """The folder of the connection's database file (the snapshot's)."""
    ((path,),) = con.execute("SELECT path FROM duckdb_databases() "
                             "WHERE database_name = current_database()").fetchall()
    return Path(path).resolve().parent


def _ensure_parts_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {PARTS_TABLE} (table_name VARCHAR, "
                "source_file VARCHAR, part_file VARCHAR, rows BIGINT)")


def live_parts(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """``(source file, part file)`` of ``table``'s parts, in source file order."""
    if not table_exists(con, PARTS_TABLE):
        return []
    return [(s, p) for s, p in con.execute(
        f"SELECT source_file, part_file FROM {PARTS_TABLE} WHERE table_name = ? "
        "ORDER BY source_file", [table]).fetchall()]


def _create_view(con: duckdb.DuckDBPyConnection, table: str, folder: Path,
                 with_staging: bool) -> None:
    files = ", ".join(sql_string(str(folder / PARTS_DIR / table / part))
                      for _, part in live_parts(con, table))
    selects = [f"SELECT * FROM read_parquet([{files}])"] if files else []
    if with_staging or not files:
        selects.append(f"SELECT * FROM {staging_table(table)}")
    con.execute(f"CREATE OR REPLACE VIEW {quote_ident(table)} AS {' UNION ALL '.join(selects)}")


def point_parts(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> None:
    """Point the views over parts at ``folder``'s ``parts/`` (default: the database's own).

    A view names its Parquet files by absolute path, so a copied or renamed snapshot
    points its views at its own folder before anyone reads it.
    """
    folder = folder or database_folder(con)
    for table in PARTITIONED_TABLES:
        if live_parts(con, table) and _is_view(con, table):
            _create_view(con, table, folder, table_exists(con, staging_table(table)))


def open_parts(con: duckdb.DuckDBPyConnection, *, convert: bool = True) -> None:
    """Make the tables over parts take new rows: a staging table beside the parts.

    The staging table is a temporary one, so staged rows never enter the database file
    (a file keeps the blocks of a dropped table, and the next snapshot would copy them);
    call :func:`seal_parts` on the same connection before closing it. An empty plain
    table becomes a view over its staging table; one with rows (a warehouse from before
    parts) takes the new rows itself until sealed. A database in memory keeps plain
    tables, and so do plain tables unless ``convert`` (a warehouse outside a snapshot,
    which may be moved, keeps its rows in its own file).
    """
    if _in_memory(con):
        return
    for table in PARTITIONED_TABLES:
        staging = staging_table(table)
        if not table_exists(con, table) or table_exists(con, staging):
            continue
        view = _is_view(con, table)
        if not view and not convert:
            continue
        if not view and con.execute(f"SELECT count(*) FROM {quote_ident(table)}"
                                    ).fetchall()[0][0]:
            continue
        con.execute(f"CREATE TEMP TABLE {staging} AS "
                    f"SELECT * FROM {quote_ident(table)} LIMIT 0")
        if not view:
            con.execute(f"DROP TABLE {quote_ident(table)}")
        _create_view(con, table, database_folder(con), with_staging=True)


def _in_memory(con: duckdb.DuckDBPyConnection) -> bool:
    ((path,),) = con.execute("SELECT path FROM duckdb_databases() "
                             "WHERE database_name = current_database()").fetchall()
    return not path or path == ":memory:"


def write_target(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The table to INSERT ``table``'s new rows into (itself unless it is over parts)."""
    staging = staging_table(table)
    return staging if table in PARTITIONED_TABLES and table_exists(con, staging) else table


def forget_source_files(con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> None:
    """Delete ``table``'s rows of these source files, in its parts and its new rows."""
    listed = ", ".join(sql_string(name) for name in files)
    con.execute(f"DELETE FROM {write_target(con, table)} WHERE _source_file IN ({listed})")
    if table in PARTITIONED_TABLES and live_parts(con, table):
        con.execute(f"DELETE FROM {PARTS_TABLE} WHERE table_name = ? "
                    f"AND source_file IN ({listed})", [table])
        _create_view(con, table, database_folder(con),
                     table_exists(con, staging_table(table)))


def part_file_name(source_file: str) -> str:
    """A part's file name: its source file's name, quoted to one path component."""
    return quote(source_file, safe="") + ".parquet"


def seal_parts(con: duckdb.DuckDBPyConnection, *, convert: bool = True) -> dict[str, int]:
    """Write each partitioned table's new rows out as parts; the table becomes a view.

    One Parquet file per source file, written beside its final name and renamed (a
    killed run leaves no half part under a part's name; the building snapshot is
    discarded anyway). Part files no longer listed are removed from this snapshot's
    folder (the hard links of other snapshots stay). Returns rows written per table.
    """
    if _in_memory(con):
        return {}
    folder = database_folder(con)
    written: dict[str, int] = {}
    for table in PARTITIONED_TABLES:
        if not table_exists(con, table):
            continue
        source = write_target(con, table)
        if source == table and (_is_view(con, table) or not convert):
            continue  # sealed and nothing staged, or a plain table left plain
        _ensure_parts_table(con)
        target = folder / PARTS_DIR / table
        target.mkdir(parents=True, exist_ok=True)
        counts = con.execute(f"SELECT _source_file, count(*) FROM {quote_ident(source)} "
                             "GROUP BY 1 ORDER BY 1").fetchall()
        written[table] = 0
        for name, rows in counts:
            part = part_file_name(name)
            tmp = target / f".{part}.tmp"
            con.execute(f"COPY (SELECT * FROM {quote_ident(source)} WHERE _source_file = ?) "
                        f"TO {sql_string(str(tmp))} (FORMAT parquet, COMPRESSION zstd)", [name])
            os.replace(tmp, target / part)
            con.execute(f"DELETE FROM {PARTS_TABLE} WHERE table_name = ? AND source_file = ?",
                        [table, name])
            con.execute(f"INSERT INTO {PARTS_TABLE} VALUES (?, ?, ?, ?)",
                        [table, name, part, rows])
            written[table] += int(rows)
        if _is_view(con, table):
            con.execute(f"DROP VIEW {quote_ident(table)}")
            if not live_parts(con, table):  # no part, nothing new: an empty plain table
                con.execute(f"CREATE TABLE {quote_ident(table)} AS "
                            f"SELECT * FROM {staging_table(table)}")
        elif live_parts(con, table):
            con.execute(f"DROP TABLE {quote_ident(table)}")
        if live_parts(con, table):
            con.execute(f"DROP TABLE IF EXISTS {staging_table(table)}")
            _create_view(con, table, folder, with_staging=False)
        listed = {part for _, part in live_parts(con, table)}
        for path in target.iterdir():
            if path.name not in listed:
                path.unlink()
    return written
