"""The one way the API reads the warehouse: parameterised, counted, off the event loop.

Every query goes through :meth:`Warehouse.fetch`, which takes SQL text written in
this package and a list of parameters (client input only ever travels as a
parameter), runs it on its own cursor in a worker thread (DuckDB releases the GIL),
and counts it — the count is what the dataloader test and ``/metrics`` look at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from api.snapshots import OpenSnapshot

Row = dict[str, Any]

_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="warehouse")


class Warehouse:
    """A request's view of one open snapshot's warehouse."""

    def __init__(self, snapshot: OpenSnapshot,
                 on_query: Callable[[], None] | None = None) -> None:
        self.snapshot = snapshot
        self.queries = 0
        self._on_query = on_query

    def has(self, table: str) -> bool:
        """A table of the serving copy (unqualified in SQL)."""
        return self.snapshot.has_table(table)

    def warehouse_has(self, table: str) -> bool:
        """A table of the attached warehouse (``w.`` in SQL)."""
        return table in self.snapshot.tables

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of ``sql`` as dicts; cancelling the caller interrupts the query."""
        self.queries += 1
        if self._on_query is not None:
            self._on_query()
        snapshot = self.snapshot.acquire()  # the thread may outlive a cancelled request
        cursor = snapshot.warehouse.cursor()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(_executor, _run, cursor, sql, list(params), snapshot)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cursor.interrupt()
            raise


def _run(cursor: Any, sql: str, params: list[Any], snapshot: OpenSnapshot) -> list[Row]:
    try:
        result = cursor.execute(sql, params)
        names = [column[0] for column in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        cursor.close()
        snapshot.release()
