"""Source files: finding them, fingerprinting them, and reading them raw into DuckDB.

Everything here is about the bytes of an operator's export, before any meaning is
given to a column: which file is which entity, its checksum, its encoding, and a
raw all-text table with the physical line number of every row. Malformed lines are
returned for quarantine; a file that cannot be read at all raises ``SourceError``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from graph.warehouse import quote_ident, sql_string

CHUNK = 1 << 22
MALFORMED = "malformed line"
TRUNCATED = "truncated last line"
UTF8_BOM = codecs.BOM_UTF8
ENCODINGS = ("utf-8", "utf-8-sig", "gbk")
GB_ALIASES = {"gb2312": "gbk", "gb18030": "gb18030", "cp936": "gbk", "gbk": "gbk"}


class SourceError(Exception):
    """A source file that cannot be read at all: names the file, the problem and the fix."""

    def __init__(self, file: str, problem: str, fix: str) -> None:
        super().__init__(f"{file}: {problem} — {fix}")
        self.file = file
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV file is laid out (contract files use the defaults)."""

    delimiter: str = ","
    quote: str = '"'
    header: bool = True
    names: tuple[str, ...] = ()
    """Column names for a file without a header row."""
    encoding: str | None = None
    """None: detected (UTF-8, UTF-8 with BOM, else GBK)."""


@dataclass
class SourceFile:
    """One file of the source directory, fingerprinted in a single streaming pass."""

    path: Path
    name: str
    """Path relative to the source directory, as stored in ``_source_file``."""
    sha256: str
    size: int
    kind: str  # "csv" or "parquet"
    encoding: str = "utf-8"
    lines: int = 0
    blank_lines: tuple[int, ...] = ()
    has_quote: bool = False
    ends_with_newline: bool = True


def file_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return None


def _canonical_encoding(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return GB_ALIASES.get(name, name)


def fingerprint(path: Path, name: str, *, encoding: str | None = None) -> SourceFile:
    """Checksum, encoding and line structure of a file, read once, in chunks.

    The same pass validates UTF-8 (so a GBK file is recognised without guessing
    from a sample), counts lines and finds blank lines, which DuckDB skips and which
    would otherwise shift the line numbers reported in quarantine.
    """
    kind = file_kind(path)
    if kind is None:
        raise SourceError(name, "not a CSV or Parquet file", "export it as .csv or .parquet")
    try:
        size = path.stat().st_size
        handle = open(path, "rb")  # noqa: SIM115 - closed below, read in chunks
    except OSError as error:
        raise SourceError(name, f"cannot be opened ({error.strerror})",
                          "check the path and the file permissions") from None
    if size == 0:
        handle.close()
        raise SourceError(name, "is empty (0 bytes)",
                          "re-export the file; an entity with no rows is left out of the folder")
    digest = hashlib.sha256()
    if kind == "parquet":
        with handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return SourceFile(path, name, digest.hexdigest(), size, kind)

    wanted = _canonical_encoding(encoding) if encoding else None
    decoder = codecs.getincrementaldecoder("utf-8")() if wanted in (None, "utf-8", "utf-8-sig") \
        else None
    utf8_ok = True
    lines = _LineScan()
    has_quote = False
    first = True
    with handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if first:
                if wanted is None and chunk.startswith(UTF8_BOM):
                    wanted = "utf-8-sig"
                first = False
            if decoder is not None and utf8_ok and not (
                    chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
            has_quote = has_quote or b'"' in chunk
            lines.feed(chunk)
    if decoder is not None and utf8_ok:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    if wanted in (None, "utf-8", "utf-8-sig") and not utf8_ok:
        if wanted is not None:
            raise SourceError(name, f"is not valid {wanted}",
                              "set the right encoding (--encoding gbk, or `encoding:` in the "
                              "mapping) or re-export as UTF-8")
        wanted = "gbk"
    return SourceFile(path, name, digest.hexdigest(), size, kind, encoding=wanted or "utf-8",
                      lines=lines.count, blank_lines=tuple(sorted(lines.blank)),
                      has_quote=has_quote, ends_with_newline=lines.last_byte == 10)


class _LineScan:
    """Counts lines and finds empty ones, a chunk at a time.

    The positions of a chunk's line breaks come from one numpy comparison (which
    also lets the file threads of ``stage_sources`` run side by side); a line is
    empty when its break follows the previous one directly, or with only a
    carriage return between them.
    """

    def __init__(self) -> None:
        self.newlines = 0
        self.offset = 0  # bytes fed so far
        self.last_break = -1  # position of the last break; a virtual one before the file
        self.last_byte = -1
        self.blank: list[int] = []

    def feed(self, chunk: bytes) -> None:
        data = np.frombuffer(chunk, dtype=np.uint8)
        breaks = np.flatnonzero(data == 10)
        if len(breaks):
            previous = np.empty_like(breaks)
            previous[0] = self.last_break - self.offset
            previous[1:] = breaks[:-1]
            gap = breaks - previous
            for index in np.flatnonzero(gap <= 2):
                position = int(breaks[index])
                before = data[position - 1] if position >= 1 else self.last_byte
                if gap[index] == 1 or before == 13:
                    # the (newlines + index + 1)-th break ends that line: it is empty
                    self.blank.append(self.newlines + int(index) + 1)
            self.last_break = self.offset + int(breaks[-1])
            self.newlines += len(breaks)
        self.offset += len(chunk)
        self.last_byte = chunk[-1]

    @property
    def count(self) -> int:
        return self.newlines + (0 if self.last_byte == 10 else 1)


def transcode_to_utf8(source: SourceFile, directory: Path) -> Path:
    """A UTF-8 copy of a non-UTF-8 CSV (DuckDB's own GBK support needs a download)."""
    target = Path(tempfile.mkstemp(suffix=".csv", dir=directory)[1])
    decoder = codecs.getincrementaldecoder(source.encoding)()
    try:
        with open(source.path, "rb") as raw, open(target, "w", encoding="utf-8",
                                                  newline="") as out:
            while chunk := raw.read(CHUNK):
                out.write(decoder.decode(chunk))
            out.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as error:
        target.unlink(missing_ok=True)
        raise SourceError(source.name, f"cannot be decoded as {source.encoding} "
                          f"(byte {error.start} of a chunk: {error.reason})",
                          "re-export as UTF-8 or GBK, or set the encoding "
                          "(--encoding / `encoding:` in the mapping)") from None
    return target


def read_header(source: SourceFile, options: CsvOptions) -> list[str]:
    """Column names of a CSV (its first line, or ``options.names``)."""
    name = source.name
    if source.kind == "parquet":
        return []
    if source.size == 0:
        raise SourceError(name, "is empty (0 bytes)", "re-export the file")
    encoding = "utf-8-sig" if source.encoding in ("utf-8", "utf-8-sig") else source.encoding
    try:
        with open(source.path, encoding=encoding, newline="") as handle:
            first = handle.readline()
            second = handle.readline()
    except UnicodeDecodeError:
        raise SourceError(name, f"cannot be decoded as {source.encoding}",
                          "re-export as UTF-8 or GBK, or set the encoding "
                          "(--encoding / `encoding:` in the mapping)") from None
    if options.names:
        names = list(options.names)
        if not first.strip():
            raise SourceError(name, "has no rows", "re-export the file with its rows")
        return names
    if not first.strip():
        raise SourceError(name, "has no header line", "put the column names on the first line")
    names = next(csv.reader(io.StringIO(first), delimiter=options.delimiter,
                            quotechar=options.quote or None))
    names = [n.strip() for n in names]
    if not second.strip():
        raise SourceError(name, "has a header but no rows",
                          "re-export the file with its rows; leave an entity with no rows out")
    if len(names) < 2 and options.delimiter not in first:
        raise SourceError(name, f"has one column only: is the delimiter {options.delimiter!r}?",
                          "set the delimiter in the mapping (`csv: {delimiter: ';'}`)")
    if len(set(names)) != len(names) or any(not n for n in names):
        raise SourceError(name, "has empty or repeated column names", "fix the header line")
    return names


@dataclass
class Rejected:
    """A physical line the CSV reader could not split into the header's columns."""

    line: int
    reason: str
    detail: str
    raw: str


@dataclass
class RawTable:
    """A source file read into a temporary all-VARCHAR table with ``_line``."""

    table: str
    file: SourceFile
    columns: list[str]
    rows: int
    rejected: list[Rejected] = field(default_factory=list)
    line_sql: str = "_line"
    """SQL giving a row's line in ``table`` (a column, or ``rowid`` plus a constant)."""


def read_raw(con: duckdb.DuckDBPyConnection, source: SourceFile, options: CsvOptions,
             table: str, workdir: Path) -> RawTable:
    """Read a file into ``table`` (all VARCHAR) with its 1-based physical line in ``_line``."""
    if source.kind == "parquet":
        return _read_parquet(con, source, table)
    path = source.path
    columns = read_header(source, options)
    transcoded = None
    if source.encoding not in ("utf-8", "utf-8-sig"):
        transcoded = transcode_to_utf8(source, workdir)
        path = transcoded
    try:
        return _read_csv(con, source, path, options, columns, table)
    finally:
        if transcoded is not None:
            transcoded.unlink(missing_ok=True)


def _csv_call(path: Path, options: CsvOptions, columns: list[str], *, header: bool,
              quote: bool) -> str:
    spec = ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in columns)
    q = sql_string(options.quote) if quote and options.quote else "''"
    return (f"read_csv({sql_string(str(path))}, columns = {{{spec}}}, header = {header}, "
            f"auto_detect = false, delim = {sql_string(options.delimiter)}, quote = {q}, "
            f"escape = {q}, store_rejects = true, rejects_table = '_rejects', "
            f"rejects_scan = '_reject_scans')")


def _read_csv(con: duckdb.DuckDBPyConnection, source: SourceFile, path: Path,
              options: CsvOptions, columns: list[str], table: str) -> RawTable:
    """All rows that split into the header's columns, and the lines that do not.

    An unterminated quote makes DuckDB swallow the rest of the file as one bad
    value, so reading resumes on the line after it from a copy of the remainder.
    Files without any quote character are read with quoting off.
    """
    header_lines = 1 if options.header and not options.names else 0
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TEMP TABLE {table} ("
                + ", ".join(f"{quote_ident(c)} VARCHAR" for c in columns) + ")")
    # A row's ordinal in the file is its rowid less the first one: the table only
    # grows, in file order (insertion order is preserved), so its rowids are
    # consecutive. No row_number(): it would read the file on one thread.
    count = 0
    rejected: list[Rejected] = []
    offset = 0  # physical lines before the segment being read
    segment_path = path
    first = True
    cleanup: list[Path] = []
    try:
        while True:
            con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _reject_scans")
            segment_header = bool(header_lines) and first
            call = _csv_call(segment_path, options, columns, header=segment_header,
                             quote=source.has_quote)
            target = "_segment" if source.has_quote else table
            if source.has_quote:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _segment AS SELECT * FROM {call}")
            else:
                count += con.execute(f"INSERT INTO {table} SELECT * FROM {call}").fetchone()[0]
            errors = con.execute(
                "SELECT line, error_type, error_message, csv_line FROM _rejects "
                "ORDER BY line, error_type <> 'UNQUOTED VALUE'"
            ).fetchall()
            runaway = None
            seen: set[int] = set()
            for line, error_type, message, csv_line in errors:
                line = int(line) + offset
                if (runaway is not None and line > runaway) or line in seen:
                    continue
                seen.add(line)
                text = (csv_line or "").lstrip("\r\n").split("\n")[0].rstrip("\r")
                if error_type == "UNQUOTED VALUE":
                    runaway = line
                    reason, detail = MALFORMED, "unterminated quote"
                    # DuckDB's copy of this line is not reliable far into a file
                    text = line_texts(source, [line]).get(line, text)
                elif line == source.lines and not source.ends_with_newline:
                    reason, detail = TRUNCATED, message
                else:
                    reason, detail = MALFORMED, message
                rejected.append(Rejected(line, reason, detail, text))
            if target == "_segment":
                keep = "TRUE"
                if runaway is not None:
                    # rows DuckDB found after the bad quote are read again from the remainder
                    before = (runaway - 1 - offset - int(segment_header)
                              - sum(1 for r in rejected if offset < r.line < runaway)
                              - sum(1 for b in source.blank_lines if offset < b < runaway))
                    ((first,),) = con.execute("SELECT min(rowid) FROM _segment").fetchall()
                    keep = f"rowid - {first} < {before}"
                count += con.execute(f"INSERT INTO {table} SELECT * FROM _segment "
                                     f"WHERE {keep}").fetchone()[0]
                con.execute("DROP TABLE _segment")
            if runaway is None or runaway >= source.lines:
                break
            segment_path = _remainder(path, runaway, cleanup)
            offset = runaway
            first = False
    finally:
        con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _reject_scans")
        for extra in cleanup:
            extra.unlink(missing_ok=True)
    skipped = sorted({*range(1, header_lines + 1), *(r.line for r in rejected),
                      *source.blank_lines})
    line_sql = _number_lines(con, table, skipped)
    if not source.ends_with_newline and source.lines not in skipped:
        # An export ends with a line break; without it the last line may have been
        # cut mid-value (a duration of 3 that was 34), so it is not loaded as is.
        cut = con.execute(f"DELETE FROM {table} WHERE {line_sql} = ? RETURNING 1",
                          [source.lines]).fetchall()
        if cut:
            rejected.append(Rejected(source.lines, TRUNCATED,
                                     "no line break at the end of the file",
                                     line_texts(source, [source.lines]).get(source.lines, "")))
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return RawTable(table, source, columns, rows, rejected, line_sql)


def _remainder(path: Path, after_line: int, cleanup: list[Path]) -> Path:
    """A temporary copy of ``path`` from line ``after_line + 1`` on."""
    target = Path(tempfile.mkstemp(suffix=".csv", dir=path.parent if os.access(
        path.parent, os.W_OK) else None)[1])
    cleanup.append(target)
    with open(path, "rb") as raw, open(target, "wb") as out:
        for _ in range(after_line):
            raw.readline()
        while chunk := raw.read(CHUNK):
            out.write(chunk)
    return target


def _number_lines(con: duckdb.DuckDBPyConnection, table: str, skipped: list[int]) -> str:
    """SQL for each row's line: the k-th row sits on line k plus the skipped lines before it.

    Header, rejected and blank lines are the only lines that are not rows. When
    they all precede the first row (the usual case) the line is the ordinal plus a
    constant and nothing is written; otherwise a ``_line`` column is filled.
    """
    ((first, last, rows),) = con.execute(
        f"SELECT min(rowid), max(rowid), count(*) FROM {table}").fetchall()
    if rows and last - first + 1 != rows:
        raise RuntimeError(f"{table}: rowids {first}..{last} for {rows} rows; "
                           "this is a bug in callcircle")
    ordinal = f"(rowid - {(first or 0) - 1})"
    if all(line == index + 1 for index, line in enumerate(skipped)):
        return f"(rowid - {(first or 0) - 1 - len(skipped)})"
    # g_j = s_j - j: rows before the j-th skipped line; line(k) = k + #{j : g_j < k}
    gaps = [(line - index - 1, index + 1) for index, line in enumerate(skipped)]
    con.execute("CREATE OR REPLACE TEMP TABLE _gaps (g BIGINT, n BIGINT)")
    con.execute("INSERT INTO _gaps SELECT * FROM (SELECT unnest(?) AS g, unnest(?) AS n)",
                [[g for g, _ in gaps], [n for _, n in gaps]])
    con.execute(
        f"""CREATE TEMP TABLE _lines AS
            SELECT r.* EXCLUDE (_ord), r._ord + coalesce(g.n, 0) AS _line
            FROM (SELECT *, {ordinal} AS _ord FROM {table}) r
            ASOF LEFT JOIN (SELECT g, max(n) AS n FROM _gaps GROUP BY g) g ON r._ord > g.g"""
    )
    con.execute(f"DROP TABLE _gaps; DROP TABLE {table}; ALTER TABLE _lines RENAME TO {table}")
    return "_line"


def _read_parquet(con: duckdb.DuckDBPyConnection, source: SourceFile, table: str) -> RawTable:
    try:
        described = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({sql_string(str(source.path))})").fetchall()
    except duckdb.Error as error:
        raise SourceError(source.name, f"is not a readable Parquet file ({error})",
                          "re-export it, or export as CSV") from None
    columns = [row[0] for row in described]
    select = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in columns)
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT {select}, file_row_number + 1 AS _line "
        f"FROM read_parquet({sql_string(str(source.path))}, file_row_number = true)"
    )
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if rows == 0:
        raise SourceError(source.name, "has no rows", "re-export the file with its rows")
    return RawTable(table, source, columns, rows)


def line_texts(source: SourceFile, wanted: Iterable[int]) -> dict[int, str]:
    """The original text of the given physical lines (for quarantine's ``raw``).

    Newlines are counted a chunk at a time in C; only chunks holding a wanted line
    are split, so a few bad rows deep in a large file cost one fast pass.
    """
    remaining = sorted(set(wanted))
    found: dict[int, str] = {}
    if not remaining or source.kind != "csv":
        return found
    encoding = "utf-8" if source.encoding in ("utf-8", "utf-8-sig") else source.encoding

    def text(number: int, raw: bytes) -> str:
        decoded = raw.rstrip(b"\r").decode(encoding, errors="replace")
        return decoded.lstrip("\ufeff") if number == 1 else decoded

    first = 1  # number of the line that starts `carry`
    carry = b""
    position = 0
    with open(source.path, "rb") as handle:
        while position < len(remaining) and (chunk := handle.read(CHUNK)):
            data = carry + chunk
            complete = data.count(b"\n")
            if remaining[position] < first + complete:
                lines = data.split(b"\n")
                while position < len(remaining) and remaining[position] < first + complete:
                    number = remaining[position]
                    found[number] = text(number, lines[number - first])
                    position += 1
            carry = data[data.rfind(b"\n") + 1:]
            first += complete
    if position < len(remaining) and remaining[position] == first and carry:
        found[first] = text(first, carry)
    return found
