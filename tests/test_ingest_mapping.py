"""Column mappings: the real public files read into the contract, and the format itself."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from ingest_fixtures import ROWS, csv_text, write_source

from ingest.aggregate import build_aggregates
from ingest.load import SourceError, stage_sources

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
MAPPINGS = ROOT / "ingest" / "mappings"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not here")


def count(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.execute(sql).fetchone()[0]


@needs_data
def test_ibm_telco(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    report = stage_sources(con, DATA, run_id="ibm", mapping=MAPPINGS / "ibm-telco.yaml")
    assert "copenhagen-calls.csv" in report.ignored
    assert report.quarantine_by_reason() == {}
    assert count(con, "SELECT count(*) FROM customers") == 7043
    assert count(con, "SELECT count(*) FROM subscriptions") == 7043
    assert count(con, "SELECT count(*) FROM subscriptions WHERE status = 'terminated'") == 1869
    assert count(con, "SELECT count(*) FROM churn_events") == 1869
    assert count(con, "SELECT count(*) FROM products") == 9
    # the 11 customers with a blank TotalCharges (tenure 0) have no bill yet
    assert count(con, "SELECT count(*) FROM bills") == 7043 - 11
    assert con.execute(
        "SELECT c.gender, c.join_date, s.msisdn, s.product_id, b.total_amount, c._source_line "
        "FROM customers c JOIN subscriptions s USING (customer_id) "
        "JOIN bills b USING (subscription_id) WHERE customer_id = '7590-VHVEG'"
    ).fetchall() == [("F", date(2019, 12, 31), "+8613800000002", "month-to-month/dsl", 29.85,
                      2)]
    aggregates = build_aggregates(con)
    assert (aggregates.numbers, aggregates.on_net, aggregates.call_edges) == (7043, 7043, 0)
    again = stage_sources(con, DATA, run_id="ibm-2", mapping=MAPPINGS / "ibm-telco.yaml")
    assert not again.changed


@needs_data
def test_copenhagen(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    report = stage_sources(con, DATA, run_id="cph", mapping=MAPPINGS / "copenhagen.yaml")
    # both files end without a line break: their last line is not trusted
    assert report.quarantine_by_reason() == {"truncated last line": 2}
    assert con.execute(
        "SELECT event_type, count(*), count(DISTINCT caller), "
        "count(DISTINCT list_value(caller, callee)) FROM cdrs GROUP BY 1 ORDER BY 1"
    ).fetchall()[0][:2] == ("sms", 24332)
    assert count(con, "SELECT count(*) FROM cdrs WHERE event_type = 'voice'") == 3599
    people = {kind: count(con, f"SELECT count(DISTINCT n) FROM (SELECT caller AS n FROM cdrs "
                               f"WHERE event_type = '{kind}' UNION SELECT callee FROM cdrs "
                               f"WHERE event_type = '{kind}')")
              for kind in ("voice", "sms")}
    assert people == {"voice": 536, "sms": 568}
    persons = count(con, "SELECT count(*) FROM subscriptions")
    assert persons == count(con, "SELECT count(*) FROM customers") == 608
    assert count(con, "SELECT sum(duration_s) FROM cdrs WHERE record_id = 'call-2'") == 121
    assert con.execute("SELECT caller, callee FROM cdrs WHERE record_id = 'call-2'"
                       ).fetchall() == [("+4528000300", "+4528000301")]
    aggregates = build_aggregates(con)
    assert (aggregates.numbers, aggregates.on_net, aggregates.off_net) == (608, 608, 0)
    assert aggregates.call_edges > 0
    assert count(con, "SELECT sum(calls_ab + calls_ba) FROM call_edges") == 3599
    assert count(con, "SELECT sum(sms_ab + sms_ba) FROM call_edges") == 24332 - count(
        con, "SELECT count(*) FROM cdrs WHERE caller = callee AND event_type = 'sms'")


MAPPING = """
name: small
phone_region: CN
csv: {delimiter: "|", encoding: gbk}
entities:
  customers:
    files: "export/kunden-*.txt"
    where: "status <> 'test'"
    columns:
      customer_id: id
      customer_type: "'individual'"
      name: xingming
      region: "coalesce(city, 'unknown')"
      join_date: "strptime(since, '%d.%m.%Y')::DATE"
  products:
    group_by: [product_id]
    files: "export/kunden-*.txt"
    columns:
      product_id: plan
      name: "'Plan ' || first(plan)"
      product_type: "'plan'"
      monthly_fee: "max(CAST(fee AS DOUBLE))"
"""

KUNDEN = """id|xingming|city|since|status|plan|fee
K1|张伟|北京|15.01.2020|ok|A|10
K2|测试|北京|01.01.2021|test|A|12
K3|李娜||01.03.2021|ok|B|20
K1|王芳|上海|01.03.2021|ok|B|20
"""


def test_mapping_format(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "export").mkdir(parents=True)
    (source / "export" / "kunden-1.txt").write_bytes(KUNDEN.encode("gbk"))
    mapping = tmp_path / "small.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    report = stage_sources(con, source, run_id="m", mapping=mapping)
    assert con.execute("SELECT customer_id, name, region, join_date, _source_line "
                       "FROM customers ORDER BY 1").fetchall() == [
        ("K1", "张伟", "北京", date(2020, 1, 15), 2),
        ("K3", "李娜", "unknown", date(2021, 3, 1), 4)]
    assert con.execute("SELECT line, reason FROM quarantine").fetchall() == [
        (5, "duplicate key")]
    assert con.execute("SELECT product_id, name, monthly_fee, _source_line FROM products "
                       "ORDER BY 1").fetchall() == [("A", "Plan A", 12.0, 2),
                                                    ("B", "Plan B", 20.0, 4)]
    assert [(f.entity, f.rows_in, f.rows_loaded) for f in report.files] == [
        ("customers", 4, 2), ("products", 4, 2)]


def test_mapping_with_an_unknown_raw_column_fails_naming_the_file(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "export").mkdir(parents=True)
    (source / "export" / "kunden-1.txt").write_bytes(KUNDEN.encode("gbk"))
    mapping = tmp_path / "small.yaml"
    mapping.write_text(MAPPING.replace("name: xingming", "name: full_name"), encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    with pytest.raises(SourceError) as failure:
        stage_sources(con, source, run_id="m", mapping=mapping)
    assert failure.value.file == "export/kunden-1.txt"
    assert "full_name" in failure.value.problem
    assert "mapping" in failure.value.fix


def test_mapping_naming_an_unknown_column_is_refused(tmp_path: Path) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text("entities:\n  customers:\n    files: x.csv\n    columns:\n"
                       "      surname: name\n", encoding="utf-8")
    (tmp_path / "src").mkdir()
    with pytest.raises(SourceError, match="customers has no column 'surname'"):
        stage_sources(duckdb.connect(), tmp_path / "src", run_id="m", mapping=mapping)


def test_mapping_reads_monthly_files_incrementally(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src", only=("customers", "products", "subscriptions"))
    (source / "switch").mkdir()
    (source / "switch" / "calls-01.csv").write_text(csv_text("cdrs", ROWS["cdrs-2026-01"]))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities:\n  customers: {files: customers.csv}\n"
                       "  products: {files: products.csv}\n"
                       "  subscriptions: {files: subscriptions.csv}\n"
                       "  cdrs: {files: 'switch/calls-*.csv'}\n", encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    stage_sources(con, source, run_id="m1", mapping=mapping)
    (source / "switch" / "calls-01.csv").unlink()
    february = [{**r, "record_id": f"{r['record_id']}b"} for r in ROWS["cdrs-2026-01"]]
    (source / "switch" / "calls-02.csv").write_text(csv_text("cdrs", february))
    report = stage_sources(con, source, run_id="m2", mapping=mapping)
    assert [f.file for f in report.files if not f.skipped_unchanged] == ["switch/calls-02.csv"]
    assert con.execute("SELECT _source_file, count(*) FROM cdrs GROUP BY 1 ORDER BY 1"
                       ).fetchall() == [("switch/calls-01.csv", 4), ("switch/calls-02.csv", 4)]
