"""The snapshot the service answers from, and the switch to a newly published one.

Each request takes a *lease* on the open snapshot it starts with and returns it when
it is done; a background task polls the data directory's ``CURRENT`` file (a cheap
``stat``), opens a newly published snapshot and swaps it in. The old snapshot is
closed only when its last lease is returned, so in-flight requests finish on the
snapshot they started with and no request fails during a switch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from api.serving import ensure_serving, remove_stale
from graph.snapshot import Snapshot, SnapshotStore
from graph.warehouse import sql_string

log = logging.getLogger("callcircle.api.snapshots")

T = TypeVar("T")


class OpenSnapshot:
    """A published snapshot with its stores opened read-only, shared by many requests.

    ``store``: the data directory it was published in (its serving copy is kept there)."""

    def __init__(self, snapshot: Snapshot, store: SnapshotStore) -> None:
        self.snapshot = snapshot
        self.store = store
        self.id = snapshot.id
        self.manifest: dict[str, Any] = snapshot.manifest
        path = ensure_serving(snapshot, store)
        self.warehouse = duckdb.connect(str(path), read_only=True)
        self.warehouse.execute("SET enable_progress_bar = false")
        self.warehouse.execute(
            f"ATTACH {sql_string(str(snapshot.warehouse_path))} AS w (READ_ONLY)")
        rows = self.warehouse.execute(
            "SELECT table_catalog, table_name FROM information_schema.tables").fetchall()
        #: tables of the serving copy (unqualified in SQL) and of the warehouse (``w.``)
        self.serving_tables: frozenset[str] = frozenset(n for c, n in rows if c != "w")
        self.tables: frozenset[str] = frozenset(n for c, n in rows if c == "w")
        self.products = self._small_table("products", "product_id")
        self.loaded_at = time.time()
        self._leases = 0
        self._retired = False
        self._closed = False
        self._lock = threading.Lock()
        self._kg: Any = None

    def _small_table(self, table: str, key: str,
                     max_rows: int = 10_000) -> dict[str, dict[str, Any]] | None:
        """A catalogue-sized serving table held in memory (no query per request)."""
        if table not in self.serving_tables:
            return None
        result = self.warehouse.execute(f"SELECT * FROM {table} LIMIT {max_rows + 1}")
        names = [column[0] for column in result.description]
        rows = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        if len(rows) > max_rows:
            return None
        return {row[key]: row for row in rows}

    def has_table(self, name: str) -> bool:
        """A table of the serving copy (see ``api.serving``)."""
        return name in self.serving_tables

    async def on_warehouse(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work`` (an ``insight`` function reading warehouse tables by their own names)
        on a read-only connection of its own to this snapshot's warehouse, off the loop."""
        path = str(self.snapshot.warehouse_path)

        def run() -> T:
            con = duckdb.connect(path, read_only=True)
            try:
                con.execute("SET enable_progress_bar = false")
                return work(con)
            finally:
                con.close()

        return await asyncio.to_thread(run)

    def acquire(self) -> OpenSnapshot:
        with self._lock:
            if self._closed:
                raise RuntimeError("snapshot already closed")
            self._leases += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._leases -= 1
            close = self._retired and self._leases == 0
        if close:
            self._close()

    def retire(self) -> None:
        """No new leases will be taken; close once the last one is returned."""
        with self._lock:
            self._retired = True
            close = self._leases == 0
        if close:
            self._close()

    @property
    def leases(self) -> int:
        return self._leases

    @property
    def closed(self) -> bool:
        return self._closed

    def knowledge_store(self) -> tuple[Any, dict[str, str]]:
        """The Oxigraph store of this snapshot (read-only, opened on first use) and the
        project's SPARQL prefixes, from ``graph.knowledge.open_knowledge_graph``."""
        with self._lock:
            if self._kg is None:
                from graph.knowledge import open_knowledge_graph

                path = self.snapshot.knowledge_graph_path
                if not path.is_dir():
                    raise FileNotFoundError("this snapshot has no knowledge graph")
                graph = open_knowledge_graph(path, read_only=True)
                prefixes = {prefix: str(iri) for prefix, iri in graph.namespaces() if prefix}
                # rows are streamed from Oxigraph itself, to stop at the row and time limits
                self._kg = (graph.store._store, prefixes)
            return self._kg

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._kg = None
        self.warehouse.close()
        log.info("closed snapshot %s", self.id)


class SnapshotHolder:
    """Keeps the current snapshot open and follows ``CURRENT``."""

    def __init__(self, data_dir: Path,
                 on_switch: Callable[[OpenSnapshot], None] | None = None) -> None:
        self.store = SnapshotStore(data_dir)
        self.current: OpenSnapshot | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._on_switch = on_switch
        self._switch_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.current is not None

    def lease(self) -> OpenSnapshot | None:
        """The current snapshot with one more lease on it (the caller must release it)."""
        while True:
            current = self.current
            if current is None:
                return None
            try:
                return current.acquire()
            except RuntimeError:  # swapped and closed between the read and the acquire
                continue

    def refresh(self) -> bool:
        """Open and swap in the published snapshot if ``CURRENT`` changed; True if swapped."""
        try:
            stat = os.stat(self.store.current_file)
        except FileNotFoundError:
            return False
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        with self._switch_lock:
            snapshot = self.store.current()
            if snapshot is None:
                return False
            if self.current is not None and self.current.id == snapshot.id:
                self._stamp = stamp
                return False
            opened = OpenSnapshot(snapshot, self.store)
            previous, self.current = self.current, opened
            self._stamp = stamp
        log.info("serving snapshot %s", opened.id)
        if previous is not None:
            previous.retire()
        remove_stale(self.store, [s.id for s in self.store.published()])
        if self._on_switch is not None:
            self._on_switch(opened)
        return True

    async def watch(self, interval_s: float) -> None:
        """Poll ``CURRENT`` forever; a snapshot that cannot be opened is retried next time."""
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("could not open the published snapshot; still serving %s",
                              self.current.id if self.current else "nothing")
                self._stamp = None
            await asyncio.sleep(interval_s)

    def close(self) -> None:
        if self.current is not None:
            self.current.retire()
            self.current = None
