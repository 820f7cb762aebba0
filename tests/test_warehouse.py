"""The warehouse helpers every stage shares, on a real DuckDB file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from graph.warehouse import (
    latest_cutoff,
    latest_cutoff_sql,
    month_start,
    months_filter,
    new_run_id,
    sql_date,
    sql_string,
    table_exists,
    tie_strength_sql,
)


@pytest.mark.parametrize(("day", "later", "expected"), [
    (date(2026, 1, 31), 0, date(2026, 1, 1)),
    (date(2026, 1, 15), 1, date(2026, 2, 1)),
    (date(2026, 12, 3), 1, date(2027, 1, 1)),
    (date(2026, 3, 1), -3, date(2025, 12, 1)),
    (date(2026, 3, 1), -15, date(2024, 12, 1)),
    (date(2026, 3, 1), 24, date(2028, 3, 1)),
])
def test_month_start_counts_months_across_years(day: date, later: int, expected: date) -> None:
    assert month_start(day, later) == expected


def test_latest_cutoff_reads_the_table_and_its_bound(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert latest_cutoff(con, "scores") is None  # no table yet
    con.execute("CREATE TABLE scores (cutoff DATE, v INT)")
    assert latest_cutoff(con, "scores") is None  # no rows
    con.execute("INSERT INTO scores VALUES ('2026-01-01', 1), ('2026-03-01', 2), "
                "('2026-02-01', 3)")
    assert table_exists(con, "scores")
    assert latest_cutoff(con, "scores") == date(2026, 3, 1)
    assert latest_cutoff(con, "scores", at_most=date(2026, 2, 15)) == date(2026, 2, 1)
    assert latest_cutoff(con, "scores", at_most=date(2025, 12, 31)) is None
    rows = con.execute(f"SELECT v FROM scores WHERE cutoff = {latest_cutoff_sql('scores')}"
                       ).fetchall()
    assert rows == [(2,)]
    bounded = latest_cutoff_sql("scores", at_most=sql_date(date(2026, 1, 31)))
    assert con.execute(f"SELECT {bounded}").fetchall()[0][0] == date(2026, 1, 1)


def test_literals_survive_quotes_and_months_filter_keeps_complete_months(tmp_path: Path
                                                                        ) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    text = "O'Brien's \"line\" \\ 交往圈"
    assert con.execute(f"SELECT {sql_string(text)}").fetchall()[0][0] == text
    con.execute("CREATE TABLE m AS SELECT unnest(['2025-11-01', '2025-12-01', '2026-01-01', "
                "'2026-02-01']::DATE[]) AS month")
    cut = date(2026, 2, 1)
    kept = [r[0] for r in con.execute(
        f"SELECT month FROM m WHERE {months_filter(cut, None)} ORDER BY 1").fetchall()]
    assert kept == [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1)]
    window = [r[0] for r in con.execute(
        f"SELECT month FROM m WHERE {months_filter(cut, 2)} ORDER BY 1").fetchall()]
    assert window == [date(2025, 12, 1), date(2026, 1, 1)]


def test_tie_strength_weighs_calls_texts_and_minutes() -> None:
    con = duckdb.connect()
    # 3 calls + 4 texts + 600 s: 3 × 1 + 4 × 0.5 + 10 min × 0.1
    weight = con.execute(f"SELECT {tie_strength_sql('1 + 2', '4', '600')}").fetchall()[0][0]
    assert weight == pytest.approx(6.0)


def test_run_ids_sort_by_time() -> None:
    first, second = new_run_id("tags"), new_run_id("tags")
    assert first.startswith("tags-") and first <= second
