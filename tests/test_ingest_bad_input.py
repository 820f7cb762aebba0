"""Bad input: every rejected row is quarantined with reason and line; the rest lands."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from ingest_fixtures import ROWS, csv_text, write_source

from ingest.load import SourceError, StageReport, stage_sources
from ingest.sources import _LineScan

RUN_TIME = datetime(2026, 3, 1, 12, 0)


def stage(tmp_path: Path, source: Path, **options: object
          ) -> tuple[duckdb.DuckDBPyConnection, StageReport]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    report = stage_sources(con, source, run_id="run-1", now=RUN_TIME, **options)
    return con, report


def quarantined(con: duckdb.DuckDBPyConnection, entity: str) -> list[tuple]:
    return con.execute(
        "SELECT line, reason, detail, raw FROM quarantine WHERE entity = ? ORDER BY line",
        [entity]).fetchall()


def loaded(con: duckdb.DuckDBPyConnection, entity: str, key: str) -> list[tuple]:
    return con.execute(f"SELECT {key}, _source_line FROM {entity} ORDER BY _source_line"
                       ).fetchall()


def cdr_lines(*extra: str, at: int = 3) -> str:
    """The fixture's CDR file with ``extra`` lines inserted so the first is line ``at``."""
    lines = csv_text("cdrs-2026-01", ROWS["cdrs-2026-01"]).splitlines()
    return "\n".join(lines[: at - 1] + list(extra) + lines[at - 1:]) + "\n"


def with_cdrs(tmp_path: Path, text: str | bytes) -> Path:
    """A source of the master files and this CDR file (other entities do not matter)."""
    source = write_source(tmp_path / "src", only=("customers", "products", "subscriptions"))
    target = source / "cdrs-2026-01.csv"
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")
    return source


GOOD_CDRS = ["R1", "R2", "R3", "R4"]


def assert_good_cdrs_landed(con: duckdb.DuckDBPyConnection, lines: list[int]) -> None:
    assert loaded(con, "cdrs", "record_id") == list(zip(GOOD_CDRS, lines, strict=True))


def test_malformed_line_is_quarantined_and_the_rest_lands(tmp_path: Path) -> None:
    source = with_cdrs(tmp_path, cdr_lines("R9,13800138001,13800138002"))
    con, report = stage(tmp_path, source)
    assert quarantined(con, "cdrs") == [
        (3, "malformed line", "Expected Number of Columns: 7 Found: 3",
         "R9,13800138001,13800138002")]
    assert_good_cdrs_landed(con, [2, 4, 5, 6])
    cdrs = next(f for f in report.files if f.entity == "cdrs")
    assert (cdrs.rows_in, cdrs.rows_loaded, cdrs.quarantined) == (5, 4, {"malformed line": 1})


def test_unterminated_quote_loses_only_its_line(tmp_path: Path) -> None:
    bad = 'R9,"13800138001,13800138002,2026-01-03 10:00:00,5,voice,'
    source = with_cdrs(tmp_path, cdr_lines(bad, '"R8",13800138001,13800138002,'
                                           '2026-01-03 11:00:00,5,voice,'))
    con, _ = stage(tmp_path, source)
    assert quarantined(con, "cdrs") == [(3, "malformed line", "unterminated quote", bad)]
    assert loaded(con, "cdrs", "record_id") == [
        ("R1", 2), ("R8", 4), ("R2", 5), ("R3", 6), ("R4", 7)]


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    source = with_cdrs(tmp_path, cdr_lines("", "R9,x", "", at=3))
    con, _ = stage(tmp_path, source)
    assert [q[:2] for q in quarantined(con, "cdrs")] == [(4, "malformed line")]
    assert_good_cdrs_landed(con, [2, 6, 7, 8])


def test_blank_lines_are_found_across_chunk_boundaries() -> None:
    """Lines and empty lines counted a chunk at a time match a split of the whole file,
    wherever the chunks cut ("\n" | "\n", "\r" | "\n", a file starting blank)."""
    rng = random.Random(7)
    for _ in range(2000):
        data = bytes(rng.choice(b"ab,\n\n\r") for _ in range(rng.randint(1, 60)))
        scan = _LineScan()
        start = 0
        while start < len(data):
            size = rng.randint(1, 7)
            scan.feed(data[start:start + size])
            start += size
        lines = data.split(b"\n")
        assert scan.blank == [n for n, line in enumerate(lines[:-1], 1) if line in (b"", b"\r")]
        assert scan.count == len(lines) - (1 if data.endswith(b"\n") else 0)


def test_truncated_last_line(tmp_path: Path) -> None:
    text = cdr_lines().rstrip("\n") + "\nR5,13800138001,1380"
    source = with_cdrs(tmp_path, text)
    con, _ = stage(tmp_path, source)
    assert [q[:2] for q in quarantined(con, "cdrs")] == [(6, "truncated last line")]
    assert quarantined(con, "cdrs")[0][3] == "R5,13800138001,1380"
    assert_good_cdrs_landed(con, [2, 3, 4, 5])


def test_last_line_without_line_break_is_not_trusted(tmp_path: Path) -> None:
    source = with_cdrs(tmp_path, cdr_lines().rstrip("\n"))
    con, _ = stage(tmp_path, source)
    assert quarantined(con, "cdrs") == [
        (5, "truncated last line", "no line break at the end of the file",
         "R4,13700137000,13800138003,2026-01-05 12:00:00,300,voice,true")]
    assert loaded(con, "cdrs", "record_id") == [("R1", 2), ("R2", 3), ("R3", 4)]


@pytest.mark.parametrize(("line", "reason", "detail"), [
    ("R9,13800138001,13800138002,2026-01-03 10:00:00,abc,voice,", "wrong type",
     "duration_s = abc is not a whole number"),
    ("R9,13800138001,13800138002,yesterday,5,voice,", "wrong type",
     "start_time = yesterday is not a timestamp (YYYY-MM-DD HH:MM:SS)"),
    ("R9,13800138001,13800138002,2026-01-03 10:00:00,5,fax,", "value not allowed",
     "event_type = fax is not a one of voice, sms"),
    ("R9,13800138001,13800138002,2026-01-03 10:00:00,-5,voice,", "below minimum",
     "duration_s = -5 is below 0"),
    ("R9,13800138001,13800138002,2099-01-03 10:00:00,5,voice,", "future timestamp",
     "start_time = 2099-01-03 10:00:00 is after the run (2026-03-01 12:00:00)"),
    ("R9,12345,13800138002,2026-01-03 10:00:00,5,voice,", "unparsable phone number",
     "caller = 12345 is not a valid phone number"),
    ("R9,13800138001,,2026-01-03 10:00:00,5,voice,", "missing value", "callee is empty"),
    ("R9,13700137001,13700137002,2026-01-03 10:00:00,5,voice,", "no on-net party",
     "caller and callee are not subscriptions"),
    ("R1,13800138001,13800138002,2026-01-03 10:00:00,5,voice,", "duplicate key",
     "record_id already on line 2"),
    ("R9,13800138001,13800138002,2026-01-03 10:00:00,5,voice,maybe", "wrong type",
     "roaming = maybe is not a true/false"),
])
def test_bad_cdr_value(tmp_path: Path, line: str, reason: str, detail: str) -> None:
    source = with_cdrs(tmp_path, cdr_lines(line, at=6))
    con, report = stage(tmp_path, source)
    assert quarantined(con, "cdrs") == [(6, reason, detail, line)]
    assert_good_cdrs_landed(con, [2, 3, 4, 5])
    assert report.quarantine_by_reason() == {reason: 1}


def test_exact_duplicate_row(tmp_path: Path) -> None:
    lines = cdr_lines().splitlines()
    source = with_cdrs(tmp_path, "\n".join([*lines, lines[2]]) + "\n")
    con, _ = stage(tmp_path, source)
    assert [q[:3] for q in quarantined(con, "cdrs")] == [
        (6, "duplicate row", "record_id already on line 3")]
    assert_good_cdrs_landed(con, [2, 3, 4, 5])


def test_duplicate_customer_ids_keep_the_first(tmp_path: Path) -> None:
    customers = [*ROWS["customers"], {**ROWS["customers"][0], "name": "Other"}]
    source = write_source(tmp_path / "src", rows={"customers": customers})
    con, _ = stage(tmp_path, source)
    assert [q[:2] for q in quarantined(con, "customers")] == [(5, "duplicate key")]
    assert con.execute("SELECT name FROM customers WHERE customer_id = 'C1'").fetchall() == [
        ("张伟",)]
    assert len(loaded(con, "customers", "customer_id")) == 3


def test_unknown_references(tmp_path: Path) -> None:
    subscriptions = [*ROWS["subscriptions"],
                     {**ROWS["subscriptions"][0], "subscription_id": "S9", "customer_id": "C99",
                      "msisdn": "13800138009"}]
    bills = [{**ROWS["bills-2026-01"][0], "bill_id": "B9", "subscription_id": "S9"},
             *ROWS["bills-2026-01"]]
    source = write_source(tmp_path / "src", rows={"subscriptions": subscriptions,
                                                   "bills-2026-01": bills})
    con, report = stage(tmp_path, source)
    assert [q[:3] for q in quarantined(con, "subscriptions")] == [
        (6, "unknown reference", "customer_id = C99 is not in customers")]
    # the bill of the rejected line is checked after it, in load order
    assert [q[:3] for q in quarantined(con, "bills")] == [
        (2, "unknown reference", "subscription_id = S9 is not in subscriptions")]
    assert loaded(con, "bills", "bill_id") == [("B1", 3)]
    assert len(loaded(con, "subscriptions", "subscription_id")) == 4
    assert report.quarantine_by_reason() == {"unknown reference": 2}


def test_row_rule(tmp_path: Path) -> None:
    subscriptions = [*ROWS["subscriptions"],
                     {**ROWS["subscriptions"][0], "subscription_id": "S9",
                      "start_date": "2024-01-01", "end_date": "2023-01-01"}]
    source = write_source(tmp_path / "src", rows={"subscriptions": subscriptions})
    con, _ = stage(tmp_path, source)
    assert [q[:2] for q in quarantined(con, "subscriptions")] == [
        (6, "end_date before start_date")]


def test_gbk_file_keeps_chinese_names(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    text = csv_text("customers", [*ROWS["customers"],
                                  {**ROWS["customers"][0], "customer_id": "C4",
                                   "name": "王芳", "address": "北京市朝阳区", "gender": "X"}])
    (source / "customers.csv").write_bytes(text.encode("gbk"))
    con, _ = stage(tmp_path, source)
    assert con.execute("SELECT customer_id, name FROM customers ORDER BY 1").fetchall() == [
        ("C1", "张伟"), ("C2", "Li Na"), ("C3", "Acme Ltd")]
    (line, reason, _, raw), = quarantined(con, "customers")
    assert (line, reason) == (5, "value not allowed")
    assert "王芳" in raw and "北京市朝阳区" in raw


def test_encoding_can_be_set(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src", only=("customers",))
    (source / "customers.csv").write_bytes(
        csv_text("customers", ROWS["customers"]).encode("gbk"))
    con, _ = stage(tmp_path, source, encoding="gbk")
    assert con.execute("SELECT name FROM customers WHERE customer_id = 'C1'").fetchall() == [
        ("张伟",)]
    with pytest.raises(SourceError, match=r"customers\.csv: is not valid utf-8"):
        stage(tmp_path, source, encoding="utf-8")


def test_bom(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    (source / "customers.csv").write_bytes(
        b"\xef\xbb\xbf" + csv_text("customers", ROWS["customers"]).encode())
    con, _ = stage(tmp_path, source)
    assert loaded(con, "customers", "customer_id") == [("C1", 2), ("C2", 3), ("C3", 4)]
    assert quarantined(con, "customers") == []


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "is empty (0 bytes)"),
    (b"customer_id,customer_type,name,region,join_date\n", "has a header but no rows"),
    (b"customer_id,name\nC1,x\n", "misses required column(s) customer_type, region"),
    (b"customer_id,customer_type,name,region,join_date\nC1,individual,\xff\xfe\xfd\xfc,B,x\n",
     "cannot be decoded as gbk"),
])
def test_unreadable_file_fails_naming_file_and_fix(tmp_path: Path, content: bytes,
                                                   problem: str) -> None:
    source = write_source(tmp_path / "src")
    (source / "customers.csv").write_bytes(content)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    with pytest.raises(SourceError) as failure:
        stage_sources(con, source, run_id="run-1", now=RUN_TIME)
    assert failure.value.file == "customers.csv"
    assert failure.value.problem.startswith(problem)
    assert failure.value.fix
    # nothing was loaded: the failure comes before any row moves
    assert con.execute("SELECT count(*) FROM ingested_files").fetchone()[0] == 0
