"""The periodic ingest job end to end: real generator, real DuckDB file, real Oxigraph store."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from api.cli import app
from graph.knowledge import open_knowledge_graph
from graph.snapshot import Snapshot, SnapshotStore
from ingest.job import IngestFailed, IngestResult, run_ingest
from ingest.ledger import RunLedger
from ingest.synthetic import generate_operator
from ontology import CC

REPO = Path(__file__).parent.parent
SUBSCRIBERS = 1_000
MONTHS = 3


@pytest.fixture(scope="module")
def operator_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("operator") / "source"
    generate_operator(out, subscribers=SUBSCRIBERS, months=MONTHS, seed=5, progress=False)
    # One export line a switch mangled: it must be quarantined with its line, the rest loaded.
    first_month = sorted(out.glob("cdrs-*.csv"))[0]
    lines = first_month.read_text(encoding="utf-8").splitlines(keepends=True)
    record_id, _caller, rest = lines[3].split(",", 2)
    lines.insert(4, f"{record_id}9,12345,{rest}")
    first_month.write_text("".join(lines), encoding="utf-8")
    return out


def _last_month_files(source: Path) -> list[Path]:
    months = sorted(p.stem[-len("YYYY-MM"):] for p in source.glob("cdrs-*.csv"))
    return sorted(source.glob(f"*-{months[-1]}.csv"))


def _without_last_month(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for path in _last_month_files(target):
        path.unlink()
    return target


def _table_counts(snapshot: Snapshot) -> dict[str, int]:
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        return {
            table: con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in ("customers", "subscriptions", "cdrs", "call_edges", "numbers")
        }
    finally:
        con.close()


def _sparql_count(snapshot: Snapshot, class_name: str) -> int:
    graph = open_knowledge_graph(snapshot.knowledge_graph_path, read_only=True)
    query = (
        f"PREFIX cc: <{CC}> "
        f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a cc:{class_name} }}"
    )
    (row,) = list(graph.query(query))
    return int(row[0])


@pytest.fixture(scope="module")
def published(operator_source: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, IngestResult]:
    """One data directory with the whole operator ingested (later tests add runs to it)."""
    data = tmp_path_factory.mktemp("published") / "data"
    return data, run_ingest(operator_source, data_dir=data)


def test_ingest_publishes_a_snapshot_matching_the_source(
    operator_source: Path, published: tuple[Path, IngestResult]
) -> None:
    data, result = published
    assert result.published and result.run.status == "published"
    snapshot = SnapshotStore(data).current()
    assert snapshot is not None and snapshot.id == result.snapshot.id
    customers_in_file = len(
        (operator_source / "customers.csv").read_text(encoding="utf-8").splitlines()) - 1
    counts = _table_counts(snapshot)
    assert counts["customers"] == customers_in_file
    assert counts["call_edges"] > 0 and counts["numbers"] > counts["subscriptions"] * 0.5
    assert _sparql_count(snapshot, "Customer") == counts["customers"]
    manifest = snapshot.manifest
    assert manifest["run_id"] == result.run.run_id
    assert manifest["shacl"]["conforms"] is True
    assert {i["entity"] for i in manifest["inputs"]} >= {"customers", "subscriptions", "cdrs"}
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert result.stage_report.quarantine_by_reason() == {"unparsable phone number": 1}
    runs_dir = SnapshotStore(data).runs_dir
    cli = CliRunner().invoke(app, ["quarantine", "--data-dir", str(data)],
                             env={"COLUMNS": "200"})
    assert cli.exit_code == 0
    first_month = sorted(operator_source.glob("cdrs-*.csv"))[0].name
    assert f"{first_month}:5" in cli.output and "12345" in cli.output
    assert (runs_dir / result.run.run_id / "quarantine.csv").read_text(
        encoding="utf-8").count("unparsable phone number") == 1
    months = len(list(operator_source.glob("cdrs-*.csv")))
    assert len(result.graph_cutoffs) == months
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        cutoffs = con.execute("SELECT count(DISTINCT cutoff) FROM graph_features").fetchone()[0]
        circles = con.execute("SELECT count(*) FROM circles").fetchone()[0]
    finally:
        con.close()
    assert cutoffs == months and circles > 0
    # The latest call circles are in the knowledge graph, each with all its members.
    graph = open_knowledge_graph(snapshot.knowledge_graph_path, read_only=True)
    sizes = graph.query(
        f"PREFIX cc: <{CC}> SELECT ?circle ?size (COUNT(?member) AS ?members) WHERE {{ "
        "?circle a cc:CallCircle ; cc:circleSize ?size . ?member cc:inCircle ?circle } "
        "GROUP BY ?circle ?size"
    )
    rows = [(int(size), int(members)) for _, size, members in sizes]
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        latest = con.execute("SELECT count(*) FROM circles WHERE cutoff = "
                             "(SELECT max(cutoff) FROM circles)").fetchone()[0]
    finally:
        con.close()
    assert len(rows) == latest and all(size == members for size, members in rows)


CALL_EDGES_ORACLE = """
    SELECT CAST(date_trunc('month', start_time) AS DATE) AS month,
           least(caller, callee) AS a, greatest(caller, callee) AS b,
           count(*) FILTER (WHERE event_type = 'voice' AND caller < callee) AS calls_ab,
           count(*) FILTER (WHERE event_type = 'voice' AND caller > callee) AS calls_ba,
           coalesce(sum(duration_s) FILTER (WHERE event_type = 'voice' AND caller < callee), 0)
               AS seconds_ab,
           coalesce(sum(duration_s) FILTER (WHERE event_type = 'voice' AND caller > callee), 0)
               AS seconds_ba,
           count(*) FILTER (WHERE event_type = 'sms' AND caller < callee) AS sms_ab,
           count(*) FILTER (WHERE event_type = 'sms' AND caller > callee) AS sms_ba,
           count(*) FILTER (WHERE event_type = 'voice'
                            AND (hour(start_time) >= 22 OR hour(start_time) < 6)) AS night_calls,
           count(*) FILTER (WHERE event_type = 'voice' AND roaming) AS roaming_calls,
           min(start_time) AS first_contact, max(start_time) AS last_contact
    FROM cdrs WHERE caller <> callee GROUP BY ALL
"""
"""The call edges as one GROUP BY over the CDRs, with a filter per direction."""


def test_call_edges_equal_one_group_by_over_the_cdrs(
    published: tuple[Path, IngestResult]
) -> None:
    data, _ = published
    snapshot = SnapshotStore(data).current()
    assert snapshot is not None
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        staged = con.execute("SELECT * FROM call_edges").fetchall()
        expected = con.execute(CALL_EDGES_ORACLE).fetchall()
        types = set(con.execute("SELECT data_type FROM information_schema.columns WHERE "
                                "table_name = 'call_edges' AND column_name NOT IN "
                                "('month', 'a', 'b', 'first_contact', 'last_contact')"
                                ).fetchall())
    finally:
        con.close()
    assert len(staged) > 1000
    assert sum(1 for row in staged if row[4] > 0) > 100  # both directions are present
    assert sorted(staged, key=repr) == sorted(expected, key=repr)
    assert types == {("BIGINT",)}


def test_rerun_on_same_files_changes_nothing(
    operator_source: Path, published: tuple[Path, IngestResult]
) -> None:
    data, first = published
    before = _table_counts(first.snapshot)
    second = run_ingest(operator_source, data_dir=data)
    assert second.run.status == "unchanged" and not second.published
    current = SnapshotStore(data).current()
    assert current is not None and current.id == first.snapshot.id
    assert _table_counts(current) == before
    assert RunLedger(SnapshotStore(data).runs_dir).runs()[-1].status == "unchanged"


def test_new_month_is_added_incrementally(
    operator_source: Path, published: tuple[Path, IngestResult], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    partial = _without_last_month(operator_source, tmp_path / "partial")
    first = run_ingest(partial, data_dir=data)
    shutil.copytree(operator_source, tmp_path / "full")
    second = run_ingest(tmp_path / "full", data_dir=data)
    assert second.published
    reloaded = {f.file for f in second.stage_report.files if not f.skipped_unchanged}
    assert reloaded == {p.name for p in _last_month_files(operator_source)}
    assert _table_counts(second.snapshot)["cdrs"] > _table_counts(first.snapshot)["cdrs"]
    whole = published[1].snapshot
    assert _table_counts(second.snapshot) == _table_counts(whole)
    # Only the new cut-off is built; earlier ones saw no new data.
    assert len(second.graph_cutoffs) == 1
    assert second.graph_cutoffs[0] > max(first.graph_cutoffs)


BOOKKEEPING = {"ingested_files": ("run_id", "loaded_at"), "quarantine": ("run_id",)}
"""Columns that say which run loaded a row, not what the row holds."""


def _table_differences(one: Path, other: Path) -> dict[str, tuple[int, int]]:
    """Rows of each table in one warehouse and not the other (EXCEPT ALL both ways).

    DOUBLE columns are compared to 6 decimals: DuckDB's parallel sums add in another
    order from run to run and differ in the last bits."""
    con = duckdb.connect(str(one), read_only=True)
    con.execute(f"ATTACH '{other}' AS other (READ_ONLY)")
    # the staged tables kept as Parquet parts are views
    mine = ("SELECT table_name FROM duckdb_tables() WHERE database_name = $1 UNION "
            "SELECT view_name FROM duckdb_views() WHERE database_name = $1 AND NOT internal")
    tables = {t for (t,) in con.execute(mine, [one.stem]).fetchall()}
    theirs = {t for (t,) in con.execute(mine, ["other"]).fetchall()}
    assert {"cdrs", "data_usage"} <= tables & theirs
    differences = {t: (-1, -1) for t in tables ^ theirs}
    for table in sorted(tables & theirs):
        columns = [
            f"round({name}, 6)" if kind == "DOUBLE" else f'"{name}"'
            for name, kind in con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = ? AND table_name = ? ORDER BY column_index",
                [one.stem, table]).fetchall()
            if name not in BOOKKEEPING.get(table, ())]
        select = ", ".join(columns)
        a = f"SELECT {select} FROM {one.stem}.main.{table}"
        b = f"SELECT {select} FROM other.main.{table}"
        counts = tuple(con.execute(f"SELECT count(*) FROM ({x} EXCEPT ALL {y})").fetchall()[0][0]
                       for x, y in ((a, b), (b, a)))
        if any(counts):
            differences[table] = counts
    con.close()
    return differences


DOUBLE = re.compile(r'"([^"]+)"(\^\^<http://www.w3.org/2001/XMLSchema#double>)')


def _graph_lines(snapshot: Snapshot) -> tuple[set[str], set[str]]:
    """The store's triples as N-Triples lines: (what the warehouse made, provenance).
    Lines with a blank node (the ontology's unionOf lists) are left out; doubles are
    compared to 9 digits (sums differ in the last bits from run to run)."""
    import pyoxigraph as ox

    text = ox.Store.read_only(str(snapshot.knowledge_graph_path)).dump(
        format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph()).decode("utf-8")
    lines = {DOUBLE.sub(lambda m: f'"{float(m[1]):.9g}"{m[2]}', line)
             for line in text.splitlines() if "_:" not in line}
    provenance = {line for line in lines if any(
        part in line for part in ("/run/", "/source-file/", "/snapshot/", "/quarantine"))}
    return lines - provenance, provenance


def test_month_by_month_gives_the_warehouse_and_graph_of_one_full_run(
    operator_source: Path, published: tuple[Path, IngestResult], tmp_path: Path
) -> None:
    months = sorted(p.stem[-len("YYYY-MM"):] for p in operator_source.glob("cdrs-*.csv"))
    data = tmp_path / "data"
    results = []
    for k in range(1, len(months) + 1):
        part = tmp_path / f"months-{k}"
        shutil.copytree(operator_source, part)
        for month in months[k:]:
            for path in part.glob(f"*-{month}.csv"):
                path.unlink()
        results.append(run_ingest(part, data_dir=data))
    assert all(r.published for r in results)
    updated = [r.knowledge_graph for r in results[1:]]
    assert all(kg is not None and kg.updated_from and kg.removed and kg.added for kg in updated)
    assert results[0].knowledge_graph is not None and not results[0].knowledge_graph.updated_from
    last, whole = results[-1].snapshot, published[1].snapshot
    assert _table_differences(last.warehouse_path, whole.warehouse_path) == {}
    graph, provenance = _graph_lines(last)
    whole_graph, whole_provenance = _graph_lines(whole)
    assert graph == whole_graph
    # each run's provenance stays: the history of what built the snapshot
    runs = {line.split()[0] for line in provenance if line.endswith("#IngestRun> .")}
    assert runs == {f"<https://id.callcircle.dev/run/{r.run.run_id}>" for r in results}
    assert whole_provenance and len(provenance) > len(whole_provenance)
    assert last.manifest["knowledge_graph"]["updated_from"] == results[-2].snapshot.id


def test_unreadable_file_fails_the_run_and_keeps_the_snapshot(
    operator_source: Path, published: tuple[Path, IngestResult], tmp_path: Path
) -> None:
    data, first = published
    broken = tmp_path / "broken"
    shutil.copytree(operator_source, broken)
    (broken / "customers.csv").write_bytes(b"")
    with pytest.raises(IngestFailed, match=r"customers\.csv"):
        run_ingest(broken, data_dir=data)
    store = SnapshotStore(data)
    assert store.current() == first.snapshot
    runs = RunLedger(store.runs_dir).runs()
    assert runs[-1].status == "failed" and "customers.csv" in (runs[-1].error or "")
    assert not any(p.name.startswith(".building") for p in store.snapshots_dir.iterdir())


STAGES = ("stage sources", "aggregate", "knowledge graph", "shacl", "publish")


def _newest_run(runs_dir: Path, known: set[str]) -> dict | None:
    for run_file in sorted(runs_dir.glob("*/run.json")):
        if run_file.parent.name not in known:
            try:
                return json.loads(run_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                return None
    return None


@pytest.mark.slow
def test_sigkill_at_any_stage_leaves_the_published_snapshot_intact(
    operator_source: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = run_ingest(_without_last_month(operator_source, tmp_path / "partial"),
                       data_dir=data)
    before = _table_counts(first.snapshot)
    customers_in_kg = _sparql_count(first.snapshot, "Customer")
    graph_before = _graph_lines(first.snapshot)
    store = SnapshotStore(data)
    env = {**os.environ, "CALLCIRCLE_NO_PROGRESS": "1"}
    killed_at = []
    for stage in STAGES:
        known = {p.name for p in store.runs_dir.iterdir()}
        child = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "ingest", str(operator_source),
             "--data-dir", str(data)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            run = _newest_run(store.runs_dir, known)
            if run is not None and run.get("stage") == stage:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        run = _newest_run(store.runs_dir, known)
        if child.returncode == -signal.SIGKILL and run is not None:
            killed_at.append(run["stage"])
        current = store.current()
        if current is not None and current.id != first.snapshot.id:
            # Killed after the atomic switch: the new snapshot must be whole.
            assert current.manifest["run_id"] == run["run_id"]
            assert _table_counts(current)["cdrs"] > before["cdrs"]
            break
        assert current == first.snapshot, f"killed at {stage}"
        assert _table_counts(current) == before
        assert _sparql_count(current, "Customer") == customers_in_kg
        # the store an update starts from is checkpointed, never written
        assert _graph_lines(current) == graph_before
        statuses = {r.run_id: r.effective_status for r in RunLedger(store.runs_dir).runs()}
        assert statuses[run["run_id"]] == "failed"
    assert {"stage sources", "aggregate", "knowledge graph"} <= set(killed_at)
    # The next run seals the killed ones and publishes normally.
    result = run_ingest(operator_source, data_dir=data)
    assert result.published
    assert result.knowledge_graph is not None and result.knowledge_graph.updated_from
    runs = RunLedger(store.runs_dir).runs()
    assert sum(r.status == "failed" for r in runs) >= 3
    assert not any(p.name.startswith(".building") for p in store.snapshots_dir.iterdir())
    # every kept snapshot reads its CDRs from its own parts, shared with the others
    for snapshot in store.published():
        with snapshot.reading() as con:
            assert con.execute("SELECT count(*) FROM cdrs").fetchall()[0][0] >= before["cdrs"]
            (view,) = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'cdrs'"
                                  ).fetchall()[0]
        assert str(snapshot.path.resolve() / "parts") in view and ".building" not in view
    assert store.disk_usage()[-1].shared.get("parts/cdrs", 0) > 0
