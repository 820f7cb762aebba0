"""Staging: source files into the warehouse's typed tables, with quarantine.

``stage_sources`` is incremental. Each load unit (usually one file) is compared
by checksum with ``ingested_files``: unchanged units are skipped, changed ones
have their rows deleted and reloaded, new ones are loaded. Entities load in
``ENTITY_ORDER`` so references are checked against what this run already loaded.
All work on rows is SQL in DuckDB; Python only walks files and builds statements.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from graph.parts import forget_source_files, open_parts, seal_parts, write_target
from graph.warehouse import quote_ident, sql_string
from ingest.contract import ENTITIES, ENTITY_ORDER, Entity
from ingest.mapping import Mapping, Unit, contract_mapping, load_mapping, plan_units
from ingest.sources import (
    CsvOptions,
    RawTable,
    SourceError,
    SourceFile,
    fingerprint,
    line_texts,
    read_header,
    read_raw,
)
from ingest.validate import (
    checked_select,
    mark_duplicates,
    mark_unknown_references,
    normalise_phones,
    staged_table_ddl,
)

__all__ = ["FileReport", "SourceError", "StageReport", "ensure_tables", "stage_sources"]

Progress = Callable[[str, int, int], None]


@dataclass
class FileReport:
    """What happened to one source file for one entity in this run."""

    entity: str
    file: str
    sha256: str
    rows_in: int
    rows_loaded: int
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> count
    skipped_unchanged: bool = False


@dataclass
class StageReport:
    files: list[FileReport]
    changed: bool
    """False when every file was already loaded with the same checksum."""
    ignored: list[str] = field(default_factory=list)
    """Files in the source directory that no entity reads."""
    fingerprint_seconds: float = 0.0
    """Time to checksum and scan every file (side by side), before any load."""
    load_seconds: dict[str, float] = field(default_factory=dict)
    """Time spent loading each entity's new or changed files."""
    parts_seconds: float = 0.0
    """Time to write the staged CDRs and data usage out as Parquet parts (graph.parts)."""

    def quarantine_by_reason(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for report in self.files:
            total.update(report.quarantined)
        return dict(sorted(total.items()))


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Staged tables of every entity and the bookkeeping tables, created if missing."""
    for entity in ENTITIES.values():
        con.execute(staged_table_ddl(entity))
    con.execute("""CREATE TABLE IF NOT EXISTS ingested_files (
        entity VARCHAR, source_file VARCHAR, sha256 VARCHAR, rows_in BIGINT,
        rows_loaded BIGINT, rows_quarantined BIGINT, run_id VARCHAR, loaded_at TIMESTAMP)""")
    con.execute("""CREATE TABLE IF NOT EXISTS quarantine (
        run_id VARCHAR, entity VARCHAR, source_file VARCHAR, line BIGINT, reason VARCHAR,
        detail VARCHAR, raw VARCHAR)""")


def stage_sources(con: duckdb.DuckDBPyConnection, source_dir: Path, *, run_id: str,
                  mapping: Path | None = None, encoding: str | None = None,
                  progress: Progress | None = None, now: datetime | None = None,
                  parts: bool = False) -> StageReport:
    """Load what is new or changed in ``source_dir`` into the staged tables.

    ``parts``: keep the staged CDRs and data usage as Parquet parts beside the database
    file (:mod:`graph.parts`; a snapshot's warehouse). A warehouse already over parts
    stays so either way.

    ``now`` is the run's time (timestamps after it are quarantined); default: now.
    Raises ``SourceError`` before loading anything if a file cannot be read at all.
    """
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise SourceError(str(source_dir), "is not a folder",
                          "pass the folder that holds the export files")
    run_time = now or datetime.now()
    layout: Mapping = load_mapping(mapping) if mapping else contract_mapping()
    units, ignored = plan_units(source_dir, layout)
    if not units:
        raise SourceError(str(source_dir), "holds no source file this layout reads",
                          "put customers.csv, cdrs-YYYY-MM.csv, … there (docs/source-contract.md)"
                          " or pass --mapping for another layout")
    ensure_tables(con)
    con.execute("SET enable_progress_bar = false")

    # Fingerprint every file once, before touching the warehouse; hashing releases
    # the GIL, so files are read side by side.
    wanted: dict[str, str | None] = {}
    for unit in units:
        for part, name in unit.files:
            wanted.setdefault(name, encoding or part.csv.encoding)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {name: pool.submit(fingerprint, source_dir / name, name, encoding=how)
                   for name, how in wanted.items()}
        sources: dict[str, SourceFile] = {name: f.result() for name, f in futures.items()}
    fingerprint_seconds = time.perf_counter() - started
    previous = {(e, f): s for e, f, s in con.execute(
        "SELECT entity, source_file, sha256 FROM ingested_files").fetchall()}
    todo = [u for u in units if not _unchanged(u, sources, previous)]
    for unit in todo:  # headers and required columns, before any row moves
        for part, name in unit.files:
            _check_header(sources[name], part.csv, part.columns, unit.entity)

    reports: list[FileReport] = []
    for unit in units:
        if unit not in todo:
            reports.extend(FileReport(unit.entity, n, sources[n].sha256, 0, 0, {},
                                      skipped_unchanged=True) for n in unit.names)
    present = {(u.entity, n) for u in units for n in u.names}
    loader = _Loader(con, run_id, layout, sources, run_time)
    load_seconds: dict[str, float] = {}
    total = len(todo)
    done = 0
    open_parts(con, convert=parts)
    try:
        with tempfile.TemporaryDirectory(prefix="callcircle-stage-") as workdir, \
                _transaction(con):
            loader.workdir = Path(workdir)
            for entity_name in ENTITY_ORDER:
                entity = ENTITIES[entity_name]
                entity_todo = [u for u in todo if u.entity == entity_name]
                if not entity_todo:
                    continue
                started = time.perf_counter()
                _forget_replaced(con, entity, entity_todo, present, previous)
                load_seconds[entity_name] = time.perf_counter() - started
                for unit in entity_todo:
                    if progress is not None:
                        progress(f"{entity_name} {', '.join(unit.names)}", done, total)
                    started = time.perf_counter()
                    reports.extend(loader.load(entity, unit))
                    load_seconds[entity_name] = (load_seconds.get(entity_name, 0.0)
                                                 + time.perf_counter() - started)
                    done += 1
            loader.drop_raw()
    finally:
        started = time.perf_counter()
        seal_parts(con, convert=parts)  # staged rows wait in temporary tables until sealed
        parts_seconds = time.perf_counter() - started
    if progress is not None:
        progress("done", total, total)
    order = {name: i for i, name in enumerate(ENTITY_ORDER)}
    reports.sort(key=lambda r: (order[r.entity], r.file))
    return StageReport(reports, changed=bool(todo), ignored=ignored,
                       fingerprint_seconds=fingerprint_seconds, load_seconds=load_seconds,
                       parts_seconds=parts_seconds)


def _unchanged(unit: Unit, sources: dict[str, SourceFile],
               previous: dict[tuple[str, str], str]) -> bool:
    if not all(previous.get((unit.entity, n)) == sources[n].sha256 for n in unit.names):
        return False
    # an entity built from several files as a whole also changes when one of them is gone
    return unit.mapping.per_file or {f for (e, f) in previous if e == unit.entity} == set(
        unit.names)


def _check_header(source: SourceFile, options: CsvOptions, columns: dict[str, str] | None,
                  entity: str) -> None:
    """Fail early on a file that cannot be read, or lacks a required contract column."""
    header = read_header(source, options)
    if columns is not None or source.kind != "csv":
        return  # mapped columns are checked by their SQL
    missing = [c.name for c in ENTITIES[entity].columns if c.required and c.name not in header]
    if missing:
        raise SourceError(source.name, f"misses required column(s) {', '.join(missing)}",
                          f"add them (docs/source-contract.md, `{entity}`) or read the file "
                          "through a column mapping (--mapping)")


def _forget_replaced(con: duckdb.DuckDBPyConnection, entity: Entity, todo: list[Unit],
                     present: set[tuple[str, str]], previous: dict[tuple[str, str], str]
                     ) -> None:
    """Delete the rows about to be reloaded, and those of files a new one replaces.

    A changed file's rows go; so do the rows of a vanished file of a non-monthly
    entity (the new file replaces it). A monthly file that is no longer delivered
    keeps its rows: months arrive one at a time.
    """
    names = {n for u in todo for n in u.names}
    if not (entity.monthly and all(u.mapping.per_file for u in todo)):
        names |= {f for (e, f) in previous if e == entity.name and (e, f) not in present}
    if not names:
        return
    forget_source_files(con, entity.name, sorted(names))
    listed = ", ".join(sql_string(n) for n in sorted(names))
    con.execute(f"DELETE FROM ingested_files WHERE entity = ? AND source_file IN ({listed})",
                [entity.name])


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All of a run's loads or none of them (and one commit instead of hundreds)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def _mapping_errors(entity: Entity, unit: Unit) -> Iterator[None]:
    """SQL errors of a mapping's expressions, as the file that cannot be read."""
    try:
        yield
    except duckdb.Error as error:
        raise SourceError(", ".join(unit.names),
                          f"cannot be mapped to {entity.name}: {str(error).splitlines()[0]}",
                          "fix the column expressions of the mapping (docs/mapping.md)"
                          ) from None


def mapped_select(entity: Entity, unit: Unit, raws: list[RawTable]) -> str:
    """The SELECT of a unit's rows as VARCHAR contract columns + _file, _line, _part.

    ``raws`` are the raw tables of ``unit.files``, in order. The mapping's expressions go
    in as written (DuckDB's dialect; ``graph.spark.sql.spark_sql`` translates the whole
    statement for the Spark engine).
    """
    selects = []
    group = unit.mapping.group_by
    for index, ((part, name), raw) in enumerate(zip(unit.files, raws, strict=True)):
        present = set(raw.columns)
        if part.columns is None:
            expressions = {c.name: (f"NULLIF({quote_ident(c.name)}, '')"
                                    if c.name in present else "NULL")
                           for c in entity.columns}
        else:
            expressions = {c.name: f"NULLIF(CAST(({part.columns[c.name]}) AS VARCHAR), '')"
                           if c.name in part.columns else "NULL::VARCHAR"
                           for c in entity.columns}
        items = [f"{e} AS {quote_ident(c)}" for c, e in expressions.items()]
        line = "" if raw.line_sql == "_line" else f"{raw.line_sql} AS _line, "
        source = f"(SELECT *, {line}{sql_string(name)} AS _file FROM {raw.table}) r"
        where = f" WHERE {part.where}" if part.where else ""
        if group:
            positions = ", ".join(str(entity.column_names.index(c) + 1) for c in group)
            selects.append(f"SELECT {', '.join(items)}, any_value(_file) AS _file, "
                           f"min(_line) AS _line, {index} AS _part FROM {source}{where} "
                           f"GROUP BY {positions}")
        else:
            selects.append(f"SELECT {', '.join(items)}, _file, _line, {index} AS _part "
                           f"FROM {source}{where}")
    body = " UNION ALL ".join(selects)
    if group:
        keys = ", ".join(quote_ident(c) for c in group)
        body = (f"SELECT * FROM ({body}) QUALIFY row_number() OVER "
                f"(PARTITION BY {keys} ORDER BY _part, _line) = 1")
    return body


class _Loader:
    """Loads units; keeps each file's raw table while several entities read it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str, layout: Mapping,
                 sources: dict[str, SourceFile], run_time: datetime) -> None:
        self.con, self.run_id, self.layout = con, run_id, layout
        self.sources, self.run_time = sources, run_time
        self.raw: dict[tuple[str, CsvOptions], RawTable] = {}
        self.reported: set[str] = set()
        self.workdir = Path(tempfile.gettempdir())

    def raw_table(self, name: str, options: CsvOptions) -> RawTable:
        key = (name, options)
        if key not in self.raw:
            self.raw[key] = read_raw(self.con, self.sources[name], options,
                                     f"_raw_{len(self.raw)}", self.workdir)
        return self.raw[key]

    def drop_raw(self) -> None:
        for raw in self.raw.values():
            self.con.execute(f"DROP TABLE IF EXISTS {raw.table}")
        self.raw.clear()

    def load(self, entity: Entity, unit: Unit) -> list[FileReport]:
        """Map, check, stage and quarantine one unit; record its files in ``ingested_files``."""
        con = self.con
        mapped, kind, raws = self._mapped(entity, unit)
        phones = [quote_ident(c.name) for c in entity.columns if c.kind == "phone"]
        with _mapping_errors(entity, unit):
            if phones:
                normalise_phones(con, " UNION ALL ".join(f"SELECT {p} FROM {mapped}"
                                                         for p in phones), self.layout.region)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS "
                        f"{checked_select(entity, mapped, self.layout.region, self.run_time)}")
        if self.layout.contract_layout:
            checked = con.execute("SELECT count(*) FROM _checked").fetchone()[0]
            if checked != sum(raw.rows for raw in raws):  # every row is loaded or quarantined
                raise RuntimeError(f"{unit.names}: {sum(r.rows for r in raws)} rows read but "
                                   f"{checked} checked; this is a bug in callcircle")
        others = con.execute(
            f"SELECT count(*) FROM {entity.name} LIMIT 1").fetchone()[0] > 0
        mark_duplicates(con, entity, "_checked", existing_files=others)
        mark_unknown_references(con, entity, "_checked")
        columns = ", ".join(quote_ident(c.name) for c in entity.columns)
        target = write_target(con, entity.name)
        con.execute(f"INSERT INTO {target} SELECT {columns}, _file, _line "
                    f"FROM _checked WHERE _reason IS NULL")
        fresh = self._unreported(raws)
        self._quarantine(entity, raws, fresh)
        self.reported.update(raw.file.name for raw in raws)
        reports = self._file_reports(entity, unit, raws, fresh)
        con.execute("DROP TABLE _checked")
        con.execute(f"DROP {kind} {mapped}")
        if self.layout.contract_layout:
            self.drop_raw()  # contract files feed one entity each
        return reports

    def _file_reports(self, entity: Entity, unit: Unit, raws: list[RawTable],
                      fresh: list[RawTable]) -> list[FileReport]:
        """Counts per file, also written to ``ingested_files``."""
        con = self.con
        loaded = dict(con.execute(
            "SELECT _file, count(*) FROM _checked WHERE _reason IS NULL GROUP BY 1").fetchall())
        bad: dict[str, Counter[str]] = {n: Counter() for n in unit.names}
        for file, reason, count in con.execute(
            "SELECT _file, _reason, count(*) FROM _checked WHERE _reason IS NOT NULL "
            "GROUP BY ALL"
        ).fetchall():
            bad[file][reason] += count
        for raw in fresh:
            for rejected in raw.rejected:
                bad[raw.file.name][rejected.reason] += 1
        rows_in = Counter[str]()
        for raw in raws:
            rows_in[raw.file.name] = max(rows_in[raw.file.name], raw.rows + len(raw.rejected))
        reports = []
        for name in unit.names:
            report = FileReport(entity.name, name, self.sources[name].sha256, rows_in[name],
                                loaded.get(name, 0), dict(bad[name]))
            con.execute("INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [entity.name, name, report.sha256, report.rows_in, report.rows_loaded,
                         sum(report.quarantined.values()), self.run_id, self.run_time])
            reports.append(report)
        return reports

    def _mapped(self, entity: Entity, unit: Unit) -> tuple[str, str, list[RawTable]]:
        """A relation of the unit's rows as VARCHAR contract columns + _file, _line, _part."""
        raws = [self.raw_table(name, part.csv) for part, name in unit.files]
        body = mapped_select(entity, unit, raws)
        kind = "VIEW" if len(raws) == 1 and not unit.mapping.group_by else "TABLE"
        with _mapping_errors(entity, unit):
            self.con.execute(f"CREATE OR REPLACE TEMP {kind} _mapped AS {body}")
        return "_mapped", kind, raws

    def _unreported(self, raws: list[RawTable]) -> list[RawTable]:
        """One raw table per file whose unreadable lines are not yet quarantined.

        A file several entities read (a mapping) has its malformed lines quarantined
        once, with the first entity that reads it.
        """
        unique = {raw.file.name: raw for raw in raws}
        return [raw for name, raw in unique.items() if name not in self.reported]

    def _quarantine(self, entity: Entity, raws: list[RawTable], fresh: list[RawTable]) -> None:
        """Rejected rows into ``quarantine`` with their original line text."""
        con = self.con
        rows = con.execute(
            "SELECT _file, _line, _reason, _detail FROM _checked WHERE _reason IS NOT NULL "
            "ORDER BY _file, _line").fetchall()
        wanted: dict[str, set[int]] = {}
        for file, line, _, _ in rows:
            wanted.setdefault(file, set()).add(line)
        texts = {file: line_texts(self.sources[file], lines) for file, lines in wanted.items()}
        for raw in raws:
            if raw.file.kind == "parquet" and raw.file.name in wanted:
                texts[raw.file.name] = dict(con.execute(
                    f"SELECT _line, CAST(to_json(r) AS VARCHAR) FROM {raw.table} r "
                    f"WHERE _line IN (SELECT _line FROM _checked WHERE _file = ? "
                    f"AND _reason IS NOT NULL)", [raw.file.name]).fetchall())
        records = [(self.run_id, entity.name, file, line, reason, detail,
                    texts.get(file, {}).get(line)) for file, line, reason, detail in rows]
        for raw in fresh:
            records += [(self.run_id, entity.name, raw.file.name, r.line, r.reason, r.detail,
                         r.raw) for r in raw.rejected]
        if records:
            import pyarrow as pa

            names = ["run_id", "entity", "source_file", "line", "reason", "detail", "raw"]
            table = pa.table({n: [r[i] for r in records] for i, n in enumerate(names)})
            con.register("_quarantine_batch", table)
            try:
                con.execute(f"INSERT INTO quarantine SELECT {', '.join(names)} "
                            "FROM _quarantine_batch")
            finally:
                con.unregister("_quarantine_batch")

