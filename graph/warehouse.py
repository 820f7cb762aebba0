"""What every stage shares about the warehouse: SQL literals, months, cut-offs, tie strength.

Ingest, the graph stage, insight and the API all write SQL against the same DuckDB tables,
and they must agree on a date's literal, on which month follows which, on the latest
cut-off a table holds, on how a tie is weighed and on how a cut-off's rows are replaced.
Each of those is spelt once, here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

# ---------------------------------------------------------------------------
# Tables and literals
# ---------------------------------------------------------------------------


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True if a table or view of that name is visible on the connection."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
        "UNION ALL SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
        [name, name],
    ).fetchall()
    return any(r[0] for r in rows)


def sql_string(text: str) -> str:
    """A SQL string literal, for text DuckDB takes no parameter for (paths, DDL, COPY)."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """A SQL identifier (a column or database name the SQL did not choose itself)."""
    return '"' + name.replace('"', '""') + '"'


def sql_date(day: date) -> str:
    """A DATE literal (dates are not user text, so inlining them is safe)."""
    return f"DATE '{day.isoformat()}'"


def recreate_keeping_rows(con: duckdb.DuckDBPyConnection, table: str, create: str) -> None:
    """Recreate ``table`` by ``create`` (its ``CREATE TABLE`` with other columns), keeping
    the rows: the columns both have keep their values, new ones are NULL, the rest go."""
    before = f"_{table}_before"
    con.execute(f"ALTER TABLE {table} RENAME TO {before}")
    con.execute(create)
    present = {row[0] for row in con.execute(f"DESCRIBE {before}").fetchall()}
    kept = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()
            if row[0] in present]
    columns = ", ".join(quote_ident(name) for name in kept)
    con.execute(f"INSERT INTO {table} BY NAME SELECT {columns} FROM {before}")
    con.execute(f"DROP TABLE {before}")


def register_arrow(con: duckdb.DuckDBPyConnection, name: str,
                   columns: dict[str, np.ndarray | pa.Array]) -> None:
    """Materialise numpy columns as a temporary DuckDB table (columnar, no row loop)."""
    view = f"_{name}_view"
    con.register(view, pa.table(columns))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    con.unregister(view)


def utc_stamp() -> str:
    """Now in UTC to the microsecond, as text that sorts by time (run and snapshot ids)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


def new_run_id(prefix: str) -> str:
    """An id for a run that derives a snapshot; ids of one prefix sort by time."""
    return f"{prefix}-{utc_stamp()}"


# ---------------------------------------------------------------------------
# Months and cut-offs
# ---------------------------------------------------------------------------


def month_start(day: date, months_later: int = 0) -> date:
    """The first day of the month ``months_later`` months after ``day``'s (negative: before).

    Cut-offs are month starts, so this is the one month arithmetic the stages need.
    """
    index = day.year * 12 + day.month - 1 + months_later
    return date(index // 12, index % 12 + 1, 1)


def months_filter(cutoff: date, window_months: int | None, column: str = "month") -> str:
    """SQL condition keeping complete months before the cut-off (and inside the window)."""
    cond = f"{column} + INTERVAL 1 MONTH <= {sql_date(cutoff)}"
    if window_months is not None:
        cond += (
            f" AND {column} >= date_trunc('month', {sql_date(cutoff)})"
            f" - INTERVAL {int(window_months)} MONTH"
        )
    return cond


def latest_cutoff_sql(table: str, *, at_most: str | None = None) -> str:
    """A scalar subquery giving ``table``'s latest cut-off (at or before the SQL ``at_most``)."""
    where = f" WHERE cutoff <= {at_most}" if at_most is not None else ""
    return f"(SELECT max(cutoff) FROM {table}{where})"


def latest_cutoff(con: duckdb.DuckDBPyConnection, table: str, *,
                  at_most: date | None = None) -> date | None:
    """The latest cut-off of ``table`` (at or before ``at_most``); None without table or rows."""
    if not table_exists(con, table):
        return None
    bound = sql_date(at_most) if at_most is not None else None
    value = con.execute(f"SELECT {latest_cutoff_sql(table, at_most=bound)}").fetchall()[0][0]
    return value.date() if isinstance(value, datetime) else value


# ---------------------------------------------------------------------------
# Tie strength
# ---------------------------------------------------------------------------

#: Tie strength of an edge: ``CALL_WEIGHT × calls + SMS_WEIGHT × SMS + MINUTE_WEIGHT × minutes``.
#: A call counts fully, a text half, and a long conversation adds to a short one (ten minutes
#: are worth one more call), so that frequent and long relations both read as strong ties.
CALL_WEIGHT = 1.0
SMS_WEIGHT = 0.5
MINUTE_WEIGHT = 0.1


def tie_strength_sql(calls: str, sms: str, seconds: str) -> str:
    """The tie strength of SQL expressions counting calls, texts and call seconds."""
    return (f"{CALL_WEIGHT} * ({calls}) + {SMS_WEIGHT} * ({sms}) "
            f"+ {MINUTE_WEIGHT} * ({seconds}) / 60.0")


# ---------------------------------------------------------------------------
# Tables of one row set per cut-off
# ---------------------------------------------------------------------------

STALE_CUTOFFS_TABLE = "stale_cutoffs"
"""Cut-offs whose rows in a table lack columns a newer version writes (NULL there)."""


def replace_cutoff_rows(con: duckdb.DuckDBPyConnection, table: str, cutoff: date,
                        select: str) -> int:
    """Replace the rows of one cut-off in ``table`` by the rows of ``select`` (idempotent).

    The table is created from the query's columns on first use. When a new version
    writes other columns, the other cut-offs' rows are kept, not dropped: columns no
    longer written go, new ones are NULL for them, and those cut-offs are listed in
    ``stale_cutoffs`` (see :func:`stale_cutoffs`) until their rows are written again.
    Returns rows written.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rows AS {select}")
    if table_exists(con, table):
        ours = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
        theirs = [row[0] for row in con.execute("DESCRIBE _rows").fetchall()]
        if set(ours) != set(theirs):
            _migrate_cutoff_table(con, table, ours, theirs)
    if not table_exists(con, table):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM _rows WHERE FALSE")
    con.execute(f"DELETE FROM {table} WHERE cutoff = {sql_date(cutoff)}")
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    if table_exists(con, STALE_CUTOFFS_TABLE):
        con.execute(f"DELETE FROM {STALE_CUTOFFS_TABLE} WHERE table_name = ? AND cutoff = ?",
                    [table, cutoff])
    rows = con.execute("SELECT count(*) FROM _rows").fetchall()[0][0]
    con.execute("DROP TABLE _rows")
    return int(rows)


def _migrate_cutoff_table(con: duckdb.DuckDBPyConnection, table: str, ours: list[str],
                          theirs: list[str]) -> None:
    """Give ``table`` the columns of ``_rows``; mark its cut-offs stale if any are new."""
    if set(theirs) - set(ours):
        con.execute(f"CREATE TABLE IF NOT EXISTS {STALE_CUTOFFS_TABLE} "
                    "(table_name VARCHAR, cutoff DATE)")
        con.execute(f"INSERT INTO {STALE_CUTOFFS_TABLE} SELECT DISTINCT ?, cutoff FROM {table} "
                    f"WHERE cutoff NOT IN (SELECT cutoff FROM {STALE_CUTOFFS_TABLE} "
                    "WHERE table_name = ?)", [table, table])
    recreate_keeping_rows(con, table, f"CREATE TABLE {table} AS SELECT * FROM _rows WHERE FALSE")


def replace_cutoff_frame(con: duckdb.DuckDBPyConnection, table: str, cutoff: date,
                         frame: pd.DataFrame) -> int:
    """:func:`replace_cutoff_rows` for rows computed in Python (scores, tags)."""
    con.register("_frame_rows", frame)
    try:
        return replace_cutoff_rows(con, table, cutoff, "SELECT * FROM _frame_rows")
    finally:
        con.unregister("_frame_rows")


def stale_cutoffs(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> list[date]:
    """Cut-offs with rows in any of ``tables`` written by an older version, oldest first."""
    if not tables or not table_exists(con, STALE_CUTOFFS_TABLE):
        return []
    marks = ", ".join("?" for _ in tables)
    return [row[0] for row in con.execute(
        f"SELECT DISTINCT cutoff FROM {STALE_CUTOFFS_TABLE} WHERE table_name IN ({marks}) "
        "ORDER BY cutoff", list(tables)).fetchall()]


def cutoffs_from(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...], first: date
                 ) -> list[date]:
    """The cut-offs with rows in any of ``tables`` from ``first`` on, oldest first."""
    present = [t for t in tables if table_exists(con, t)]
    if not present:
        return []
    union = " UNION ".join(f"SELECT cutoff FROM {t} WHERE cutoff >= ?" for t in present)
    return [row[0] for row in con.execute(f"SELECT cutoff FROM ({union}) ORDER BY 1",
                                          [first] * len(present)).fetchall()]


def forget_cutoffs(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...],
                   cutoffs: list[date]) -> None:
    """Delete the rows of ``cutoffs`` from ``tables``, and their stale marks."""
    if not cutoffs:
        return
    marks = ", ".join("?" for _ in cutoffs)
    for table in tables:
        if table_exists(con, table):
            con.execute(f"DELETE FROM {table} WHERE cutoff IN ({marks})", cutoffs)
    if table_exists(con, STALE_CUTOFFS_TABLE):
        names = ", ".join("?" for _ in tables)
        con.execute(f"DELETE FROM {STALE_CUTOFFS_TABLE} WHERE cutoff IN ({marks}) "
                    f"AND table_name IN ({names})", [*cutoffs, *tables])
