"""Streaming CSV output in the source contract's exact columns and formats.

Tables are written chunk by chunk with pyarrow's CSV writer, so a month of a million
subscribers never has to sit in memory. Values are never quoted: the generator only
writes text without commas, quotes or line breaks (the tests check it), which is how
most operator exports look.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest.contract import ENTITIES, Entity

EPOCH = np.datetime64("1970-01-01", "D")


class CsvSink:
    """One contract file, appended to in chunks; counts its rows."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.columns = columns
        self.rows = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write((",".join(columns) + "\n").encode("utf-8"))
        self._writer: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None

    @classmethod
    def for_entity(cls, directory: Path, entity: str, month: str | None = None) -> CsvSink:
        spec: Entity = ENTITIES[entity]
        name = f"{entity}-{month}.csv" if month else f"{entity}.csv"
        return cls(directory / name, spec.column_names)

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
        self._writer.write_table(table)
        self.rows += table.num_rows

    def write_text(self, columns: dict[str, Text], chunk: int = 400_000) -> None:
        """Append rows composed with numpy (see ``csv_rows``): the path for big files."""
        fields = [columns[name] for name in self.columns]
        n = len(fields[0].chars)
        for begin in range(0, n, chunk):
            part = [f.take(slice(begin, begin + chunk)) for f in fields]  # type: ignore[arg-type]
            self._file.write(csv_rows(part))
        self.rows += n

    def close(self) -> None:
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


# -- the fast path for the big files --------------------------------------------------------
# CDRs and data usage are tens of millions of rows. pyarrow formats them at about a
# microsecond per row; composing the CSV bytes with numpy (each field a padded byte
# matrix plus a mask of the bytes that belong to it) is several times faster.


class Text(NamedTuple):
    """A column of text: one row of bytes per value, and which of those bytes count."""

    chars: np.ndarray
    valid: np.ndarray

    def take(self, index: np.ndarray) -> Text:
        return Text(self.chars[index], self.valid[index])


def pack(strings: list[str]) -> Text:
    """A small lookup table (event types, clock times, dates) as Text."""
    encoded = [s.encode("utf-8") for s in strings]
    width = max(1, *(len(e) for e in encoded))
    chars = np.zeros((len(encoded), width), dtype=np.uint8)
    for i, e in enumerate(encoded):
        chars[i, :len(e)] = np.frombuffer(e, dtype=np.uint8)
    lengths = np.array([len(e) for e in encoded])
    return Text(chars, np.arange(width) < lengths[:, None])


def digits(values: np.ndarray, width: int) -> Text:
    """Non-negative integers in decimal, without leading zeros."""
    values = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    chars = (48 + (values[:, None] // powers) % 10).astype(np.uint8)
    valid = (values[:, None] >= powers) | (powers == 1)
    return Text(chars, valid)


def constant(text: str, n: int) -> Text:
    table = pack([text])
    return Text(np.broadcast_to(table.chars, (n, table.chars.shape[1])),
                np.broadcast_to(table.valid, (n, table.valid.shape[1])))


def decimal2(values: np.ndarray, width: int = 7) -> Text:
    """Non-negative amounts with two decimals (``430.41``)."""
    cents = np.round(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)
    whole = digits(cents // 100, width)
    fraction = digits(cents % 100 + 100, 3)  # "1xx": drop the leading 1
    n = len(cents)
    return Text(np.concatenate([whole.chars, np.full((n, 1), ord("."), np.uint8),
                                fraction.chars[:, 1:]], axis=1),
                np.concatenate([whole.valid, np.ones((n, 3), dtype=bool)], axis=1))


@functools.cache
def _clock() -> Text:
    seconds = np.arange(86400)
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    return pack([f"{h:02d}:{m:02d}:{s:02d}" for h, m, s in zip(hh, mm, ss, strict=True)])


def date_table(first_day: int, days: int) -> Text:
    return pack([str(EPOCH + first_day + i) for i in range(days)])


def timestamp_text(seconds: np.ndarray) -> Text:
    """``YYYY-MM-DD HH:MM:SS`` for seconds since 1970-01-01 (local time)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    day = seconds // 86400
    first = int(day.min()) if len(day) else 0
    table = date_table(first, int(day.max()) - first + 1 if len(day) else 1)
    when = table.take(day - first)
    clock = _clock().take(seconds % 86400)
    n = len(seconds)
    return Text(np.concatenate([when.chars, np.full((n, 1), 32, np.uint8), clock.chars], axis=1),
                np.ones((n, 19), dtype=bool))


_COMMA = np.array([[ord(",")]], dtype=np.uint8)
_NEWLINE = np.array([[ord("\n")]], dtype=np.uint8)


def csv_rows(fields: list[Text]) -> bytes:
    """The CSV lines of the given columns, in order."""
    n = len(fields[0].chars)
    parts, masks = [], []
    for i, field in enumerate(fields):
        parts.append(field.chars)
        masks.append(field.valid)
        sep = _NEWLINE if i == len(fields) - 1 else _COMMA
        parts.append(np.broadcast_to(sep, (n, 1)))
        masks.append(np.ones((n, 1), dtype=bool))
    return np.concatenate(parts, axis=1)[np.concatenate(masks, axis=1)].tobytes()
