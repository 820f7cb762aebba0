from pathlib import Path

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
