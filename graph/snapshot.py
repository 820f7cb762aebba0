"""Snapshots: the unit the API serves and ingest publishes.

A data directory looks like this::

    callcircle-data/
      CURRENT                      id of the last published snapshot (replaced atomically)
      snapshots/<id>/              one published snapshot, never modified after publish
        warehouse.duckdb           staged rows, call edges, features, scores
        parts/<table>/*.parquet    staged CDRs and data usage, one file per source file,
                                   hard-linked between snapshots (``graph.parts``)
        kg/                        Oxigraph store behind the rdflib graph
        manifest.json              what built it: run id, inputs, counts
      snapshots/.building-<run>/   a snapshot under construction (removed if abandoned)
      runs/<run>/run.json          the run ledger (see ``ingest.ledger``)
      models/<snapshot id>/        the churn model trained on that snapshot (``insight.stage``)
      rules/library-v<n>.yaml      every saved version of the tag rule library (``insight.tags``)
      serving/<snapshot id>.*      the API's sorted serving copy of a warehouse (``api.serving``)
      .explorer-secret             the explorer's signing secret (``api.explorer``)

:class:`SnapshotStore` is the one owner of this layout: every stage asks it for a folder
(:meth:`SnapshotStore.models_dir`, ``rules_dir``, ``serving_dir``, ``runs_dir``) rather
than spelling a path below the data directory.

Publishing is a directory rename followed by an atomic replace of ``CURRENT``, both
fsynced; a process killed at any moment leaves either the old or the new snapshot
current, never a half-written one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from graph.parts import PARTS_DIR, point_parts
from graph.warehouse import utc_stamp

DATA_DIR_ENV = "CALLCIRCLE_DATA"
DEFAULT_DATA_DIR = Path("callcircle-data")
WAREHOUSE_FILE = "warehouse.duckdb"
KNOWLEDGE_GRAPH_DIR = "kg"
MANIFEST_FILE = "manifest.json"
RUN_FILE = "run.json"
BUILDING_PREFIX = ".building-"
SNAPSHOTS_DIR = "snapshots"
RUNS_DIR = "runs"
MODELS_DIR = "models"
RULES_DIR = "rules"
SERVING_DIR = "serving"


def resolve_data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: explicit argument, else ``$CALLCIRCLE_DATA``, else the default."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class Snapshot:
    """A published (read-only) or building snapshot directory."""

    id: str
    path: Path

    @property
    def warehouse_path(self) -> Path:
        return self.path / WAREHOUSE_FILE

    @property
    def knowledge_graph_path(self) -> Path:
        return self.path / KNOWLEDGE_GRAPH_DIR

    @property
    def manifest(self) -> dict[str, Any]:
        manifest_path = self.path / MANIFEST_FILE
        if not manifest_path.exists():
            return {}
        return json.loads(manifest_path.read_text(encoding="utf-8"))

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the warehouse, closed when the block ends."""
        con = duckdb.connect(str(self.warehouse_path), read_only=True)
        try:
            yield con
        finally:
            con.close()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_atomic(self.path / MANIFEST_FILE, json.dumps(manifest, indent=2, default=str))


@dataclass(frozen=True)
class SnapshotUsage:
    """What one snapshot holds on disk (see :meth:`SnapshotStore.disk_usage`)."""

    snapshot: Snapshot
    bytes: int
    """Every file's size under the snapshot's folder."""
    shared_bytes: int
    """Of which in files other published snapshots hold too (hard links)."""
    shared: dict[str, int] = field(default_factory=dict)
    """The shared bytes per part of the snapshot: ``kg``, ``parts/cdrs``, …"""

    @property
    def own_bytes(self) -> int:
        """What removing this snapshot alone would free."""
        return self.bytes - self.shared_bytes


class SnapshotStore:
    """The snapshots of one data directory."""

    def __init__(self, root: str | os.PathLike[str] | None = None, keep: int = 3) -> None:
        self.root = resolve_data_dir(root)
        self.keep = keep

    @property
    def snapshots_dir(self) -> Path:
        return self.root / SNAPSHOTS_DIR

    @property
    def runs_dir(self) -> Path:
        """The run ledger, a folder per run."""
        return self.root / RUNS_DIR

    def models_dir(self, snapshot_id: str) -> Path:
        """The churn model trained on ``snapshot_id``: beside the snapshots, since a published
        snapshot is never modified and a model is trained after its snapshot is published."""
        return self.root / MODELS_DIR / snapshot_id

    @property
    def rules_dir(self) -> Path:
        """The tag rule library's saved versions (rules change between snapshots)."""
        return self.root / RULES_DIR

    @property
    def serving_dir(self) -> Path:
        """The API's serving copies of published warehouses, rebuilt when missing."""
        return self.root / SERVING_DIR

    @property
    def current_file(self) -> Path:
        return self.root / "CURRENT"

    def ensure(self) -> None:
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    def current(self) -> Snapshot | None:
        """The last published snapshot, or None before the first publish."""
        try:
            snapshot_id = self.current_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not snapshot_id:
            return None
        path = self.snapshots_dir / snapshot_id
        if not path.is_dir():
            raise FileNotFoundError(
                f"{self.current_file} names snapshot {snapshot_id!r} but {path} is missing; "
                "restore it from backup or re-run `callcircle ingest`"
            )
        return Snapshot(snapshot_id, path)

    def published(self) -> list[Snapshot]:
        """Published snapshots, oldest first (ids sort by time)."""
        if not self.snapshots_dir.exists():
            return []
        return [
            Snapshot(p.name, p)
            for p in sorted(self.snapshots_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".")
        ]

    def disk_usage(self) -> list[SnapshotUsage]:
        """Each published snapshot's bytes on disk, and how many of them it shares with
        the other published snapshots (files hard-linked between them: the knowledge
        graph's data files, checkpointed rather than copied, and the Parquet parts of the
        staged CDRs and data usage, see :mod:`graph.parts`)."""
        snapshots = self.published()
        files: dict[str, dict[tuple[int, int], tuple[str, int]]] = {}
        holders: dict[tuple[int, int], set[str]] = {}
        for snapshot in snapshots:
            own = files.setdefault(snapshot.id, {})
            for path in snapshot.path.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    info = path.stat()
                    where = path.relative_to(snapshot.path).parts
                    part = "/".join(where[:2] if where[0] == PARTS_DIR else where[:1])
                    own[(info.st_dev, info.st_ino)] = (part, info.st_size)
                    holders.setdefault((info.st_dev, info.st_ino), set()).add(snapshot.id)
        usages = []
        for snapshot in snapshots:
            shared: dict[str, int] = {}
            for inode, (part, size) in files[snapshot.id].items():
                if len(holders[inode]) > 1:
                    shared[part] = shared.get(part, 0) + size
            usages.append(SnapshotUsage(
                snapshot, sum(size for _, size in files[snapshot.id].values()),
                sum(shared.values()), dict(sorted(shared.items()))))
        return usages

    def new_snapshot_id(self) -> str:
        return f"s{utc_stamp()}Z"

    def begin(self, run_id: str, *, copy_warehouse_from: Snapshot | None = None) -> Snapshot:
        """Create a building snapshot, seeded with a copy of a previous warehouse if given."""
        self.ensure()
        self.discard_abandoned()
        path = self.snapshots_dir / f"{BUILDING_PREFIX}{run_id}"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir()
        building = Snapshot(f"{BUILDING_PREFIX}{run_id}", path)
        if copy_warehouse_from is not None and copy_warehouse_from.warehouse_path.exists():
            shutil.copyfile(copy_warehouse_from.warehouse_path, building.warehouse_path)
            parts = copy_warehouse_from.path / PARTS_DIR
            if parts.is_dir():
                shutil.copytree(parts, building.path / PARTS_DIR, copy_function=os.link)
                _point_parts(building.warehouse_path, building.path.resolve())
        return building

    def publish(self, building: Snapshot, snapshot_id: str | None = None) -> Snapshot:
        """Make a finished building snapshot current, atomically, and prune old ones."""
        snapshot_id = snapshot_id or self.new_snapshot_id()
        final = self.snapshots_dir / snapshot_id
        for child in building.path.rglob("*"):
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
            elif child.is_dir():
                _fsync_dir(child)
        os.rename(building.path, final)
        _fsync_dir(self.snapshots_dir)
        published = Snapshot(snapshot_id, final)
        if (final / PARTS_DIR).is_dir():
            # views name their parts by path; until CURRENT names it, a snapshot killed
            # here is newer than CURRENT and discarded by the next run
            _point_parts(published.warehouse_path, final.resolve())
        write_atomic(self.current_file, snapshot_id + "\n")
        self.prune()
        return published

    def prune(self) -> list[str]:
        """Remove published snapshots beyond the newest ``keep`` (never the current one)."""
        current = self.current()
        removed = []
        published = self.published()
        for snapshot in published[: max(0, len(published) - self.keep)]:
            if current is not None and snapshot.id == current.id:
                continue
            shutil.rmtree(snapshot.path, ignore_errors=True)
            removed.append(snapshot.id)
        return removed

    def discard_abandoned(self) -> list[str]:
        """Remove what killed runs left: building folders, and snapshots renamed but never
        made current (newer than ``CURRENT``). Call only while holding the ingest lock."""
        removed = []
        if not self.snapshots_dir.exists():
            return removed
        current = self.current()
        for snapshot in self.published():
            if current is None or snapshot.id > current.id:
                shutil.rmtree(snapshot.path, ignore_errors=True)
                removed.append(snapshot.id)
        for path in self.snapshots_dir.iterdir():
            if path.name.startswith(BUILDING_PREFIX):
                run_id = path.name[len(BUILDING_PREFIX):]
                if not _run_is_alive(self.runs_dir / run_id / RUN_FILE):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        return removed

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the data directory's single-writer lock while building and publishing.

        An advisory ``flock``: the kernel releases it when the holder dies, even by SIGKILL.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / ".writer.lock"
        with open(lock_path, "w") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SnapshotStoreBusy(
                    f"another ingest or scoring run holds {lock_path}; wait for it to finish "
                    "(see `callcircle runs`)"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def derive(
        self,
        run_id: str,
        write: Callable[[duckdb.DuckDBPyConnection, Snapshot], dict[str, Any]],
        *,
        manifest_key: str,
        carry: tuple[str, ...] = (),
        parent: Snapshot | None = None,
    ) -> Snapshot:
        """Publish a copy of the current snapshot with what ``write(con, building)`` adds.

        Published snapshots are never modified: scoring, tagging and campaign planning
        write into a copy (warehouse, knowledge graph, and only the folders of the snapshot
        named in ``carry``), which is published atomically under the single-writer lock.
        ``write`` gets a writable connection to the copy's warehouse and the building
        snapshot itself (its knowledge graph, its folder), and returns a summary that goes
        into the manifest under ``manifest_key``. ``parent``: the snapshot the caller
        computed from; if another run published meanwhile, nothing is published.
        """
        with self.writer_lock():
            current = self.current()
            if current is None:
                raise ValueError("no published snapshot: run `callcircle ingest` first")
            if parent is not None and current.id != parent.id:
                raise SnapshotStoreBusy(
                    f"snapshot {current.id} was published while this run worked on "
                    f"{parent.id}; run it again on the new snapshot"
                )
            with self.building(run_id, copy_warehouse_from=current) as building:
                if current.knowledge_graph_path.exists():
                    # imported here: the knowledge graph brings rdflib and pyoxigraph with it
                    from graph.knowledge import checkpoint_knowledge_graph

                    checkpoint_knowledge_graph(current.knowledge_graph_path,
                                               building.knowledge_graph_path)
                for folder in carry:
                    if (current.path / folder).exists():
                        shutil.copytree(current.path / folder, building.path / folder)
                con = duckdb.connect(str(building.warehouse_path))
                try:
                    summary = write(con, building)
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                manifest = dict(current.manifest)
                manifest["derived_from"] = current.id
                manifest[manifest_key] = {**summary, "run_id": run_id}
                building.write_manifest(manifest)
                return self.publish(building)

    @contextmanager
    def building(self, run_id: str, *, copy_warehouse_from: Snapshot | None = None
                 ) -> Iterator[Snapshot]:
        """A building snapshot that is removed unless published inside the block."""
        snapshot = self.begin(run_id, copy_warehouse_from=copy_warehouse_from)
        try:
            yield snapshot
        finally:
            if snapshot.path.exists():
                shutil.rmtree(snapshot.path, ignore_errors=True)


class SnapshotStoreBusy(Exception):
    """Another process is publishing into the same data directory."""


def _point_parts(warehouse: Path, folder: Path) -> None:
    """Point a warehouse's views over parts at ``folder`` (its snapshot's, once moved)."""
    con = duckdb.connect(str(warehouse))
    try:
        point_parts(con, folder)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    with open(warehouse, "rb") as handle:
        os.fsync(handle.fileno())


def _run_is_alive(run_file: Path) -> bool:
    try:
        record = json.loads(run_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    if record.get("status") != "running":
        return False
    return pid_alive(int(record.get("pid", 0)))


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return True
