from pathlib import Path

import duckdb
import pytest

from graph.snapshot import SnapshotStore, resolve_data_dir


def test_data_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CALLCIRCLE_DATA", raising=False)
    assert resolve_data_dir() == Path("callcircle-data")
    monkeypatch.setenv("CALLCIRCLE_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"


def test_publish_is_atomic_and_prunes(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2)
    assert store.current() is None
    ids = []
    for i in range(3):
        with store.building(f"run{i}") as building:
            (building.path / "payload.txt").write_text(str(i))
            published = store.publish(building)
        ids.append(published.id)
        current = store.current()
        assert current is not None and current.id == published.id
        assert (current.path / "payload.txt").read_text() == str(i)
    assert [s.id for s in store.published()] == ids[1:]
    assert not any(p.name.startswith(".building") for p in store.snapshots_dir.iterdir())


def test_abandoned_build_is_discarded_and_current_kept(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    with store.building("first") as building:
        (building.path / "payload.txt").write_text("first")
        first = store.publish(building)
    abandoned = store.begin("killed")
    (abandoned.path / "payload.txt").write_text("half")
    assert store.current() == first
    assert store.discard_abandoned() == [abandoned.path.name]
    assert not abandoned.path.exists()


def test_writer_lock_admits_one_writer(tmp_path: Path) -> None:
    from graph.snapshot import SnapshotStoreBusy

    store = SnapshotStore(tmp_path)
    with (
        store.writer_lock(),
        pytest.raises(SnapshotStoreBusy, match="wait for it"),
        store.writer_lock(),
    ):
        pass
    with store.writer_lock():
        pass


def _publish_with(store: SnapshotStore, folders: tuple[str, ...]) -> None:
    import duckdb

    with store.building("first") as building:
        con = duckdb.connect(str(building.warehouse_path))
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        con.close()
        for folder in folders:
            (building.path / folder).mkdir()
            (building.path / folder / "a.txt").write_text(folder)
        store.publish(building)


def test_derive_hands_the_building_snapshot_and_carries_nothing_unasked(
        tmp_path: Path) -> None:
    import duckdb

    from graph.snapshot import Snapshot

    store = SnapshotStore(tmp_path)
    _publish_with(store, ("extra", "kept"))
    first = store.current()
    assert first is not None
    seen: list[Snapshot] = []

    def write(con: duckdb.DuckDBPyConnection, building: Snapshot) -> dict[str, int]:
        seen.append(building)
        assert building.path.parent == store.snapshots_dir and building.id != first.id
        (building.path / "note.txt").write_text("added")
        con.execute("INSERT INTO t VALUES (2)")
        return {"rows": 2}

    derived = store.derive("plain", write, manifest_key="step", parent=first)
    assert [b.id for b in seen] == [".building-plain"]
    assert (derived.path / "note.txt").read_text() == "added"
    assert not (derived.path / "extra").exists() and not (derived.path / "kept").exists()
    assert derived.manifest["step"] == {"rows": 2, "run_id": "plain"}
    with derived.reading() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_derive_carries_the_folders_it_is_asked_to(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    _publish_with(store, ("extra", "kept"))
    derived = store.derive("carry", lambda con, building: {}, manifest_key="step",
                           carry=("kept",))
    assert (derived.path / "kept" / "a.txt").read_text() == "kept"
    assert not (derived.path / "extra").exists()


def test_each_folder_of_the_data_directory_has_one_owner(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    folders = {store.snapshots_dir, store.runs_dir, store.models_dir("s1").parent,
               store.rules_dir, store.serving_dir}
    assert {f.parent for f in folders} == {tmp_path} and len(folders) == 5
    assert store.models_dir("s1") != store.models_dir("s2")


def test_a_derived_snapshot_shares_the_knowledge_graph_files_it_does_not_change(
        tmp_path: Path) -> None:
    import duckdb
    import pyoxigraph as ox
    from typer.testing import CliRunner

    from api.cli import app
    from graph.knowledge import replace_triples
    from graph.snapshot import Snapshot

    store = SnapshotStore(tmp_path)
    with store.building("first") as building:
        con = duckdb.connect(str(building.warehouse_path))
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        con.close()
        kg = ox.Store(str(building.knowledge_graph_path))
        kg.extend([ox.Quad(ox.NamedNode(f"https://id.callcircle.dev/customer/C{i}"),
                           ox.NamedNode("https://callcircle.dev/ontology#region"),
                           ox.Literal(f"region {i % 7}")) for i in range(20_000)])
        kg.flush()
        del kg
        first = store.publish(building)
    before = len(ox.Store.read_only(str(first.knowledge_graph_path)))
    score = ('<https://id.callcircle.dev/customer/C1> '
             '<https://callcircle.dev/ontology#valueTier> "gold" .')

    def write(con: duckdb.DuckDBPyConnection, building: Snapshot) -> dict[str, int]:
        return {"triples": replace_triples(building.knowledge_graph_path, [], [score])}

    derived = store.derive("score", write, manifest_key="insight", parent=first)
    assert len(ox.Store.read_only(str(derived.knowledge_graph_path))) == before + 1
    assert len(ox.Store.read_only(str(first.knowledge_graph_path))) == before
    usage = {u.snapshot.id: u for u in store.disk_usage()}
    assert usage[derived.id].shared_bytes > 0
    assert usage[derived.id].shared_bytes == usage[first.id].shared_bytes
    assert usage[first.id].own_bytes < usage[first.id].bytes
    shown = CliRunner().invoke(app, ["snapshots", "--data-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert f"derived from {first.id}" in shown.output
    assert "shared with other snapshots" in shown.output


def _stage_cdrs(con: duckdb.DuckDBPyConnection, files: dict[str, int]) -> None:
    """Rows of ``cdrs`` as staging writes them: ``rows`` per source file."""
    from graph.parts import write_target

    con.execute("CREATE TABLE IF NOT EXISTS cdrs (caller VARCHAR, duration_s BIGINT, "
                "_source_file VARCHAR, _source_line BIGINT)")
    for name, rows in files.items():
        con.execute(f"INSERT INTO {write_target(con, 'cdrs')} SELECT 'c' || i, i, ?, i "
                    "FROM range(?) t(i)", [name, rows])


def test_staged_cdrs_are_parquet_parts_hard_linked_between_snapshots(tmp_path: Path) -> None:
    import duckdb
    from typer.testing import CliRunner

    from api.cli import app
    from graph.parts import forget_source_files, open_parts, seal_parts
    from graph.snapshot import Snapshot

    store = SnapshotStore(tmp_path, keep=2)
    with store.building("first") as building:
        con = duckdb.connect(str(building.warehouse_path))
        _stage_cdrs(con, {"cdrs-2026-01.csv": 1000, "cdrs-2026-02.csv": 2000})
        assert seal_parts(con) == {"cdrs": 3000}
        con.close()
        first = store.publish(building)
    parts = first.path / "parts" / "cdrs"
    assert sorted(p.name for p in parts.iterdir()) == ["cdrs-2026-01.csv.parquet",
                                                       "cdrs-2026-02.csv.parquet"]
    with first.reading() as con:
        assert con.execute("SELECT count(*) FROM cdrs").fetchall() == [(3000,)]
        (view,) = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'cdrs'"
                              ).fetchall()[0]
    assert str(first.path.resolve()) in view and ".building" not in view

    # the next run: January reloaded, March added; February stays the same file
    with store.building("second", copy_warehouse_from=first) as building:
        con = duckdb.connect(str(building.warehouse_path))
        open_parts(con)
        forget_source_files(con, "cdrs", ["cdrs-2026-01.csv"])
        _stage_cdrs(con, {"cdrs-2026-01.csv": 10, "cdrs-2026-03.csv": 30})
        assert con.execute("SELECT count(*) FROM cdrs").fetchall() == [(2040,)]
        assert seal_parts(con) == {"cdrs": 40}
        con.close()
        second = store.publish(building)
    shared = second.path / "parts" / "cdrs" / "cdrs-2026-02.csv.parquet"
    assert shared.stat().st_ino == (parts / "cdrs-2026-02.csv.parquet").stat().st_ino
    assert (second.path / "parts" / "cdrs" / "cdrs-2026-01.csv.parquet").stat().st_ino != (
        parts / "cdrs-2026-01.csv.parquet").stat().st_ino
    with first.reading() as con:  # the published snapshot is as it was
        assert con.execute("SELECT count(*) FROM cdrs").fetchall() == [(3000,)]
    usage = {u.snapshot.id: u for u in store.disk_usage()}
    assert usage[second.id].shared == {"parts/cdrs": shared.stat().st_size}
    shown = CliRunner().invoke(app, ["snapshots", "--data-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "parts/cdrs" in shown.output

    # a derived snapshot reads its own links: its parents can be pruned under it
    def write(con: duckdb.DuckDBPyConnection, building: Snapshot) -> dict[str, int]:
        return {"rows": con.execute("SELECT count(*) FROM cdrs").fetchall()[0][0]}

    store.keep = 1
    derived = store.derive("score", write, manifest_key="insight", parent=second)
    assert derived.manifest["insight"]["rows"] == 2040
    assert [s.id for s in store.published()] == [derived.id]
    with derived.reading() as con:
        assert con.execute("SELECT count(*), sum(duration_s) FROM cdrs").fetchall() == [
            (2040, sum(range(2000)) + sum(range(10)) + sum(range(30)))]
