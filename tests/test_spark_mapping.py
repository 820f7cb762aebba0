"""A column mapping's SQL on Spark: the shipped mappings' rows, the same on both engines.

Each load unit of ``ingest/mappings/ibm-telco.yaml`` and ``copenhagen.yaml`` over the real
files in ``../shared/data`` is read raw once (DuckDB's reader, all VARCHAR, with lines);
the same raw rows go to Spark as Parquet. The unit's mapped SELECT (``mapped_select``,
the statement the embedded staging runs, DuckDB's dialect) runs on DuckDB as written and
on Spark as ``spark_sql`` translates it: ``EXCEPT ALL`` both ways on every column, each
typed as the staging types it.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from ingest_fixtures import ROWS, write_source
from spark_fixtures import spark  # noqa: F401  (the session-wide fixture)

from graph.warehouse import quote_ident, sql_string
from ingest.contract import ENTITIES
from ingest.load import mapped_select
from ingest.mapping import contract_mapping, load_mapping, plan_units
from ingest.sources import RawTable, fingerprint, read_raw
from ingest.validate import checked_select, normalise_phones, typed

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
MAPPINGS = ROOT / "ingest" / "mappings"


def test_duckdb_functions_spark_lacks_are_rewritten_or_refused(spark) -> None:  # noqa: F811
    from graph.spark.sql import UntranslatableSQL, check_functions, spark_sql

    assert spark_sql("DATE '2020-01-31' - to_months(CAST(t AS INTEGER))") == (
        "CAST('2020-01-31' AS DATE) - MAKE_YM_INTERVAL(0, CAST(t AS INT))")
    assert "MAKE_DT_INTERVAL(0, 0, 0, x % 60)" in spark_sql(
        "TIMESTAMP '2013-02-01' + to_seconds(x % 60)")
    assert spark_sql("x::DATE") == "CAST(x AS DATE)"
    both = ("SELECT strptime('05.03.2024 21:07', '%d.%m.%Y %H:%M')::DATE AS d, "
            "DATE '2020-01-31' - to_months(CAST('1' AS INTEGER)) AS m, "
            "TIMESTAMP '2013-02-01' + to_seconds(90) AS t")
    ((*duckdb_row,),) = duckdb.sql(both).fetchall()
    (spark_row,) = spark.sql(spark_sql(both)).collect()
    assert [spark_row.d, spark_row.t] == [duckdb_row[0], duckdb_row[2]]
    assert spark_row.m == duckdb_row[1].date()  # DuckDB's is a timestamp, Spark's a date
    check_functions(spark, spark_sql("lpad(CAST(_line AS VARCHAR), 8, '0') || to_days(1)"))
    with pytest.raises(UntranslatableSQL, match="JAROWINKLER_SIMILARITY"):
        check_functions(spark, spark_sql("jaro_winkler_similarity(a, 'b') > 0.9"))
    with pytest.raises(UntranslatableSQL, match="BAR"):
        check_functions(spark, spark_sql("bar(x, 0, 10)"))
    with pytest.raises(UntranslatableSQL, match="cannot parse"):
        spark_sql("CASE WHEN")


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not here")
@pytest.mark.parametrize("mapping_file", ["ibm-telco.yaml", "copenhagen.yaml"])
def test_mapped_rows_equal_on_spark(spark, tmp_path: Path,  # noqa: F811
                                    mapping_file: str) -> None:
    from graph.spark.sql import spark_sql

    mapping = load_mapping(MAPPINGS / mapping_file)
    units, _ = plan_units(DATA, mapping)
    con = duckdb.connect()
    raw_tables: dict[tuple[str, object], RawTable] = {}
    compared = 0
    for unit in units:
        raws = []
        for part, name in unit.files:
            key = (name, part.csv)
            if key not in raw_tables:
                table = f"_raw_{len(raw_tables)}"
                raw = read_raw(con, fingerprint(DATA / name, name), part.csv, table,
                               Path(tempfile.gettempdir()))
                # lines as a column, so both engines read the same table
                line = "" if raw.line_sql == "_line" else f", {raw.line_sql} AS _line"
                con.execute(f"CREATE TABLE {table}_lines AS SELECT *{line} FROM {table}")
                path = tmp_path / f"raw{len(raw_tables)}.parquet"  # Spark skips _files
                con.execute(f"COPY {table}_lines TO {sql_string(str(path))} (FORMAT parquet)")
                spark.read.parquet(str(path)).createOrReplaceTempView(f"{table}_lines")
                raw_tables[key] = RawTable(f"{table}_lines", raw.file, raw.columns, raw.rows)
            raws.append(raw_tables[key])
        entity = ENTITIES[unit.entity]
        body = mapped_select(entity, unit, raws)
        names = [*entity.column_names, "_file", "_line", "_part"]
        picked = ", ".join(quote_ident(name) for name in names)
        con.execute(f"CREATE OR REPLACE TABLE ours AS SELECT {picked} FROM ({body})")
        out = tmp_path / f"{unit.entity}-{compared}.parquet"
        (spark.sql(spark_sql(body)).select(*names).write.mode("overwrite")
         .parquet(str(out)))
        con.execute(f"CREATE OR REPLACE TABLE theirs AS SELECT {picked} FROM "
                    f"read_parquet({sql_string(str(out / '*.parquet'))})")
        rows = con.execute("SELECT count(*) FROM ours").fetchall()[0][0]
        assert rows > 0, unit.entity
        assert con.execute("SELECT count(*) FROM theirs").fetchall()[0][0] == rows
        # as the staging types them (a DuckDB date minus months is a timestamp, Spark's a
        # date: different text, the same DATE)
        staged = ", ".join(
            f"{quote_ident(c.name) if c.kind == 'phone' else typed(c, quote_ident(c.name))} "
            f"AS {quote_ident(c.name)}" for c in entity.columns)
        for left, right in (("ours", "theirs"), ("theirs", "ours")):
            differ = con.execute(
                f"SELECT count(*) FROM (SELECT {staged}, _file, _line, _part FROM {left} "
                f"EXCEPT ALL SELECT {staged}, _file, _line, _part FROM {right})"
            ).fetchall()[0][0]
            assert differ == 0, (f"{mapping_file} {unit.entity}: {differ} rows differ, in "
                                 f"{_differing(con, entity.column_names)}")
        compared += 1
    assert compared == len(units) >= 4


def _differing(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, tuple]:
    """Per column that differs, one example (ours, theirs), rows matched by file and line."""
    found = {}
    for name in names:
        column = quote_ident(name)
        example = con.execute(f"""
            SELECT o.{column}, t.{column} FROM ours o JOIN theirs t USING (_file, _line, _part)
            WHERE o.{column} IS DISTINCT FROM t.{column} LIMIT 1""").fetchall()
        if example:
            found[name] = example[0]
    return found


BAD_ROWS: dict[str, list[dict[str, object]]] = {
    "customers": [
        {"customer_id": "C7", "customer_type": "individual", "name": "X", "gender": "X",
         "region": "Beijing", "join_date": "2020-01-15"},                # not allowed
        {"customer_type": "individual", "name": "No id", "region": "Beijing",
         "join_date": "2020-01-15"},                                    # missing
        {"customer_id": "C8", "customer_type": "individual", "name": "Y", "region": "Beijing",
         "join_date": "2020-13-01", "do_not_contact": "maybe"},         # wrong type
    ],
    "subscriptions": [
        {"subscription_id": "S7", "customer_id": "C1", "msisdn": "12345", "product_id": "P1",
         "status": "active", "start_date": "2020-01-15"},               # bad phone
        {"subscription_id": "S8", "customer_id": "C1", "msisdn": "13800138008",
         "product_id": "P1", "status": "terminated", "start_date": "2021-01-01",
         "end_date": "2020-01-01"},                                     # row rule
    ],
    "cdrs-2026-01": [
        {"record_id": "R7", "caller": "13800138001", "callee": "13800138002",
         "start_time": "2026-01-06 10:00:00", "duration_s": "-5", "event_type": "voice"},
        {"record_id": "R8", "caller": "13800138001", "callee": "13800138002",
         "start_time": "2027-01-06 10:00:00", "duration_s": "5", "event_type": "voice"},
        {"record_id": "R9", "caller": "13800138001", "callee": "13800138002",
         "start_time": "2026-01-06 10:00:00", "duration_s": "2.5", "event_type": "fax",
         "roaming": "yes"},
        {"record_id": "R10", "caller": "13800138001", "callee": "13800138002",
         "start_time": "2026-01-06T11:00:00", "duration_s": "7.0", "event_type": "sms",
         "roaming": "0"},
    ],
    "bills-2026-01": [
        {**ROWS["bills-2026-01"][0], "bill_id": "B7", "total_amount": "inf"},
        {**ROWS["bills-2026-01"][0], "bill_id": "B8", "total_amount": "abc"},
        {**ROWS["bills-2026-01"][0], "bill_id": "B9", "due_date": "2025-01-01"},
    ],
}
"""Rows each breaking one rule, added to the hand-written operator's files."""


def test_checks_quarantine_the_same_rows_for_the_same_reasons_on_spark(
        spark, tmp_path: Path) -> None:  # noqa: F811
    """The staging's checks (``checked_select``: types, allowed values, minimums, future
    times, row rules, phone numbers from the lookup) translated to Spark: the same
    ``_reason`` and ``_detail`` per file and line, the same typed values."""
    from graph.spark.sql import check_functions, spark_sql

    rows = {name: [*ROWS[name], *BAD_ROWS.get(name, [])] for name in ROWS}
    source = write_source(tmp_path / "source", rows=rows)
    mapping = contract_mapping()
    units, _ = plan_units(source, mapping)
    con = duckdb.connect()
    run_time = datetime(2026, 3, 1, 12, 0)
    reasons: set[str] = set()
    for unit in units:
        entity = ENTITIES[unit.entity]
        raws = [_raw_on_both(con, spark, tmp_path, source, part, name, index)
                for index, (part, name) in enumerate(unit.files)]
        mapped = mapped_select(entity, unit, raws)
        con.execute(f"CREATE OR REPLACE TEMP VIEW _mapped AS {mapped}")
        spark.sql(spark_sql(mapped)).createOrReplaceTempView("_mapped")
        phones = [quote_ident(c.name) for c in entity.columns if c.kind == "phone"]
        if phones:
            normalise_phones(con, " UNION ALL ".join(f"SELECT {p} FROM _mapped"
                                                     for p in phones), mapping.region)
            path = tmp_path / "phones.parquet"
            con.execute(f"COPY _phone_lookup TO {sql_string(str(path))} (FORMAT parquet)")
            spark.read.parquet(str(path)).createOrReplaceTempView("_phone_lookup")
        checked = checked_select(entity, "_mapped", mapping.region, run_time)
        translated = spark_sql(checked)
        check_functions(spark, translated)
        con.execute(f"CREATE OR REPLACE TABLE ours AS {checked}")
        out = tmp_path / f"checked-{unit.entity}-{len(reasons)}.parquet"
        spark.sql(translated).write.mode("overwrite").parquet(str(out))
        con.execute("CREATE OR REPLACE TABLE theirs AS SELECT * FROM "
                    f"read_parquet({sql_string(str(out / '*.parquet'))})")
        total = con.execute("SELECT count(*) FROM ours").fetchall()[0][0]
        assert con.execute("SELECT count(*) FROM theirs").fetchall()[0][0] == total > 0
        for left, right in (("ours", "theirs"), ("theirs", "ours")):
            differ = con.execute(f"SELECT count(*) FROM (SELECT * FROM {left} EXCEPT ALL "
                                 f"SELECT * FROM {right})").fetchall()[0][0]
            assert differ == 0, (f"{unit.entity}: {differ} rows differ, in "
                                 f"{_differing(con, [*entity.column_names, '_reason', '_detail'])}")
        reasons |= {row[0] for row in con.execute(
            "SELECT DISTINCT _reason FROM theirs WHERE _reason IS NOT NULL").fetchall()}
    assert reasons == {"value not allowed", "missing value", "wrong type",
                       "unparsable phone number", "end_date before start_date",
                       "below minimum", "future timestamp", "due_date before issue_date"}


def _raw_on_both(con: duckdb.DuckDBPyConnection, spark, tmp_path: Path,  # noqa: F811
                 source: Path, part, name: str, index: int) -> RawTable:
    """A source file read raw by DuckDB, as the same table in DuckDB and in Spark."""
    table = f"_raw_{Path(name).stem.replace('-', '_')}_{index}"
    raw = read_raw(con, fingerprint(source / name, name), part.csv, table,
                   Path(tempfile.gettempdir()))
    line = "" if raw.line_sql == "_line" else f", {raw.line_sql} AS _line"
    con.execute(f"CREATE OR REPLACE TABLE {table}_lines AS SELECT *{line} FROM {table}")
    path = tmp_path / f"raw-{table}.parquet"  # Spark skips files starting with _
    con.execute(f"COPY {table}_lines TO {sql_string(str(path))} (FORMAT parquet)")
    spark.read.parquet(str(path)).createOrReplaceTempView(f"{table}_lines")
    return RawTable(f"{table}_lines", raw.file, raw.columns, raw.rows)
