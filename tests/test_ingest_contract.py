"""Contract sources: typed staged tables, bookkeeping, aggregates, incremental runs."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
from ingest_fixtures import ROWS, csv_text, write_source

from ingest.aggregate import build_aggregates
from ingest.contract import ENTITIES
from ingest.load import stage_sources
from ingest.validate import SQL_TYPES

RUN_TIME = datetime(2026, 3, 1, 12, 0)


def connect(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(tmp_path / "warehouse.duckdb"))


def contents(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every table's rows, sorted: to compare warehouses before and after a run."""
    tables = [row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def test_every_entity_is_staged_typed_with_its_source_line(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    (source / "notes.txt").write_text("hello")
    (source / "ground-truth").mkdir()
    (source / "ground-truth" / "customers.csv").write_text("not read")
    con = connect(tmp_path)
    report = stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    assert report.changed
    assert report.ignored == ["ground-truth/", "notes.txt"]
    assert report.quarantine_by_reason() == {}
    for name, entity in ENTITIES.items():
        described = dict(con.execute(f"SELECT column_name, column_type FROM "
                                     f"(DESCRIBE {name})").fetchall())
        expected = {c.name: SQL_TYPES[c.kind] for c in entity.columns}
        assert described == {**expected, "_source_file": "VARCHAR",
                             "_source_line": "BIGINT"}, name
        stem = next(s for s in ROWS if s.split("-")[0] == name)
        rows = con.execute(f"SELECT _source_file, _source_line FROM {name} "
                           "ORDER BY _source_line").fetchall()
        assert rows == [(f"{stem}.csv", line) for line in range(2, len(ROWS[stem]) + 2)]
    assert con.execute("SELECT msisdn FROM subscriptions ORDER BY 1").fetchall() == [
        ("+8613800138001",), ("+8613800138002",), ("+8613800138003",), ("+8613800138004",)]
    assert con.execute("SELECT period, channels FROM bills, campaigns").fetchall() == [
        (date(2026, 1, 1), "sms;app")]
    assert con.execute("SELECT do_not_contact FROM customers ORDER BY customer_id"
                       ).fetchall() == [(None,), (True,), (None,)]
    files = con.execute("SELECT entity, source_file, rows_in, rows_loaded, rows_quarantined, "
                        "run_id FROM ingested_files ORDER BY 2").fetchall()
    assert len(files) == len(ROWS)
    assert ("cdrs", "cdrs-2026-01.csv", 4, 4, 0, "run-1") in files


def test_parquet_source(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    (source / "customers.csv").rename(tmp_path / "customers.csv")
    scratch = duckdb.connect()
    scratch.execute(f"COPY (SELECT * REPLACE (CAST(join_date AS DATE) AS join_date) "
                    f"FROM read_csv('{tmp_path / 'customers.csv'}', all_varchar = true)) "
                    f"TO '{source / 'customers.parquet'}' (FORMAT parquet)")
    con = connect(tmp_path)
    stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    assert con.execute("SELECT customer_id, name, join_date, _source_file, _source_line "
                       "FROM customers ORDER BY 1").fetchall()[0] == (
        "C1", "张伟", date(2020, 1, 15), "customers.parquet", 1)


def test_aggregates(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    con = connect(tmp_path)
    stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    report = build_aggregates(con)
    assert (report.numbers, report.on_net, report.off_net) == (6, 4, 2)
    assert con.execute("SELECT msisdn, on_net, operator, subscription_id, customer_id "
                       "FROM numbers WHERE msisdn IN ('+8613800138001', '+8613900139000') "
                       "ORDER BY 1").fetchall() == [
        ("+8613800138001", True, "China Mobile", "S1", "C1"),
        ("+8613900139000", False, "China Mobile", None, None)]
    edge = con.execute(
        "SELECT month, calls_ab, calls_ba, seconds_ab, seconds_ba, sms_ab, sms_ba, "
        "night_calls, roaming_calls, first_contact, last_contact FROM call_edges "
        "WHERE a = '+8613800138001' AND b = '+8613800138002'").fetchall()
    assert edge == [(date(2026, 1, 1), 1, 1, 120, 60, 0, 0, 1, 0,
                     datetime(2026, 1, 3, 9, 15), datetime(2026, 1, 3, 23, 10))]
    assert report.call_edges == 3
    usage = con.execute(
        "SELECT calls_out, calls_in, seconds_out, seconds_in, sms_out, sms_in, contacts, "
        "active_days, night_calls, roaming_calls, data_mb FROM usage_monthly "
        "WHERE msisdn = '+8613800138001'").fetchall()
    assert usage == [(1, 1, 120, 60, 1, 0, 2, 2, 1, 0, 250.5)]
    assert con.execute("SELECT roaming_calls FROM usage_monthly "
                       "WHERE msisdn = '+8613800138003'").fetchall() == [(0,)]
    assert report.usage_rows == 3


def test_same_files_twice_change_nothing(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    con = connect(tmp_path)
    first = stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    aggregates = build_aggregates(con)
    assert set(first.load_seconds) == set(ENTITIES) and first.fingerprint_seconds > 0
    assert set(aggregates.seconds) == {"call_edges", "numbers", "usage_monthly"}
    before = contents(con)
    again = stage_sources(con, source, run_id="run-2", now=RUN_TIME)
    assert not again.changed and again.load_seconds == {}
    assert all(f.skipped_unchanged for f in again.files)
    build_aggregates(con)
    assert contents(con) == before


def test_new_month_loads_only_that_file(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    con = connect(tmp_path)
    stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    february = [{**row, "record_id": row["record_id"] + "-feb",
                 "start_time": str(row["start_time"]).replace("2026-01", "2026-02")}
                for row in ROWS["cdrs-2026-01"]]
    (source / "cdrs-2026-02.csv").write_text(csv_text("cdrs-2026-02", february))
    (source / "customers.csv").unlink()  # a delivery may hold only the new month
    report = stage_sources(con, source, run_id="run-2", now=RUN_TIME)
    assert report.changed
    changed = [(f.entity, f.file) for f in report.files if not f.skipped_unchanged]
    assert changed == [("cdrs", "cdrs-2026-02.csv")]
    assert con.execute("SELECT _source_file, count(*) FROM cdrs GROUP BY 1 ORDER BY 1"
                       ).fetchall() == [("cdrs-2026-01.csv", 4), ("cdrs-2026-02.csv", 4)]
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 3
    assert build_aggregates(con).call_edges == 6


def test_changed_file_replaces_its_rows(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    con = connect(tmp_path)
    stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    fewer = ROWS["cdrs-2026-01"][:2]
    (source / "cdrs-2026-01.csv").write_text(csv_text("cdrs-2026-01", fewer))
    report = stage_sources(con, source, run_id="run-2", now=RUN_TIME)
    assert [(f.file, f.rows_loaded) for f in report.files if not f.skipped_unchanged] == [
        ("cdrs-2026-01.csv", 2)]
    assert con.execute("SELECT record_id FROM cdrs ORDER BY 1").fetchall() == [("R1",), ("R2",)]
    assert con.execute("SELECT count(*) FROM ingested_files WHERE entity = 'cdrs'"
                       ).fetchone()[0] == 1


def test_new_customer_file_replaces_the_old_one(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    con = connect(tmp_path)
    stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    (source / "customers.csv").unlink()
    scratch = duckdb.connect()
    scratch.execute(
        "CREATE TABLE c AS SELECT 'C1' AS customer_id, 'individual' AS customer_type, "
        "'Zhang Wei' AS name, 'Beijing' AS region, DATE '2020-01-15' AS join_date")
    scratch.execute(f"COPY c TO '{source / 'customers.parquet'}' (FORMAT parquet)")
    stage_sources(con, source, run_id="run-2", now=RUN_TIME)
    assert con.execute("SELECT customer_id, name, _source_file FROM customers").fetchall() == [
        ("C1", "Zhang Wei", "customers.parquet")]
    assert con.execute("SELECT source_file FROM ingested_files WHERE entity = 'customers'"
                       ).fetchall() == [("customers.parquet",)]


def test_parquet_rows_are_checked_like_csv_lines(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src", only=("customers", "products", "subscriptions"))
    scratch = duckdb.connect()
    scratch.execute(
        "CREATE TABLE c AS SELECT * FROM (VALUES "
        "('R1', '+8613800138001', '+8613800138002', TIMESTAMP '2026-01-03 09:15:00', 60, 'voice'),"
        "('R2', '+8613800138002', '+8613800138001', TIMESTAMP '2026-01-03 09:20:00', -5, 'voice'),"
        "('R3', '+8613800138001', '+8613900139000', TIMESTAMP '2026-01-04 10:00:00', 0, 'sms')"
        ") t(record_id, caller, callee, start_time, duration_s, event_type)")
    scratch.execute(f"COPY c TO '{source / 'cdrs-2026-01.parquet'}' (FORMAT parquet)")
    con = connect(tmp_path)
    report = stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    assert report.quarantine_by_reason() == {"below minimum": 1}
    line, raw = con.execute("SELECT line, raw FROM quarantine").fetchone()
    assert line == 2 and '"duration_s":"-5"' in raw
    assert con.execute("SELECT record_id, start_time, _source_line FROM cdrs ORDER BY 1"
                       ).fetchall() == [("R1", datetime(2026, 1, 3, 9, 15), 1),
                                        ("R3", datetime(2026, 1, 4, 10, 0), 3)]
