"""Streaming CSV output in the source contract's exact columns and formats.

Tables are written chunk by chunk with pyarrow's CSV writer, so a month of a million
subscribers never has to sit in memory. The big files write from a background thread
into a native file (no GIL), so formatting one day overlaps drawing the next; there is
a single writer per file, so the order, and the bytes, stay the same. Values are never
quoted: the generator only writes text without commas, quotes or line breaks (the
tests check it), which is how most operator exports look.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest.contract import ENTITIES, Entity

EPOCH = np.datetime64("1970-01-01", "D")


class CsvSink:
    """One contract file, appended to in chunks; counts its rows."""

    def __init__(self, path: Path, columns: tuple[str, ...], background: bool = False) -> None:
        self.path = path
        self.columns = columns
        self.rows = 0
        self._file = pa.OSFile(str(path), "wb")
        self._file.write((",".join(columns) + "\n").encode("utf-8"))
        self._writer: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self._pool = ThreadPoolExecutor(max_workers=1) if background else None
        self._pending: deque[Future[None]] = deque()

    @classmethod
    def for_entity(cls, directory: Path, entity: str, month: str | None = None,
                   background: bool = False) -> CsvSink:
        spec: Entity = ENTITIES[entity]
        name = f"{entity}-{month}.csv" if month else f"{entity}.csv"
        return cls(directory / name, spec.column_names, background=background)

    def write(self, columns: dict[str, Any]) -> None:
        """Append rows given as arrays keyed by contract column name (all of them)."""
        table = pa.table({name: _array(columns[name]) for name in self.columns})
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._schema = table.schema
            self._writer = pacsv.CSVWriter(
                self._file, table.schema,
                write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
            )
        else:
            table = table.cast(self._schema)
        if self._pool is None:
            self._writer.write_table(table)
        else:
            while len(self._pending) >= 2:  # at most two chunks in flight: bounded memory
                self._pending.popleft().result()
            self._pending.append(self._pool.submit(self._writer.write_table, table))
        self.rows += table.num_rows

    def close(self) -> None:
        while self._pending:
            self._pending.popleft().result()
        if self._pool is not None:
            self._pool.shutdown()
        if self._writer is not None:
            self._writer.close()
        self._file.close()

    def __enter__(self) -> CsvSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _array(values: Any) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    array = np.asarray(values)
    if array.dtype == object:
        return pa.array(array, type=pa.string())
    return pa.array(array)


def dates(day_numbers: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Days since 1970-01-01 as a date column (``YYYY-MM-DD``); mask marks empty cells."""
    return pa.array(np.asarray(day_numbers, dtype=np.int32), type=pa.date32(), mask=mask)


def timestamps(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Seconds since 1970-01-01 local time as ``YYYY-MM-DD HH:MM:SS``."""
    return pa.array(np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"), mask=mask)


def money(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Amounts rounded to the fen; written in their shortest decimal form."""
    return pa.array(np.round(np.asarray(values, dtype=np.float64), 2), mask=mask)


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers such as ``S000012345``: a prefix and a zero-padded number."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    padded = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, padded, "")


def nullable_strings(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """The same strings with the masked cells empty."""
    return pc.if_else(pa.array(~np.asarray(mask, dtype=bool)), values,
                      pa.scalar(None, pa.string()))
