"""The periodic ingest job: source folder → validated warehouse → knowledge graph → snapshot.

Run from cron as ``callcircle ingest SOURCE_DIR``. Each run is recorded in the run
ledger, builds a new snapshot beside the published one and publishes it atomically;
the API keeps serving the previous snapshot meanwhile. A run that fails, or is
killed, leaves the published snapshot as it was. Only one run works on a data
directory at a time (an advisory lock, released by the kernel even on SIGKILL).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from graph.engine import EngineSettings, scale_out_stage
from graph.knowledge import (
    KnowledgeGraphNotUpdatable,
    KnowledgeGraphReport,
    build_knowledge_graph,
    knowledge_graph_fingerprint,
    provenance_turtle,
    update_knowledge_graph,
    validate_knowledge_graph,
)
from graph.snapshot import Snapshot, SnapshotStore, SnapshotStoreBusy
from graph.stage import build_graph_cutoffs
from graph.warehouse import month_start, table_exists
from ingest.aggregate import AggregateReport, build_aggregates
from ingest.ledger import RunLedger, RunRecord, utc_now
from ingest.load import SourceError, StageReport, stage_sources

SHACL_FULL_LIMIT = 20_000
"""Up to this many triples the whole graph is SHACL-validated; above, a stratified sample.
pySHACL checks about a thousand triples a second, so full validation is for small sources."""
SHACL_SAMPLE_PER_CLASS = 25


QUARANTINE_FILE = "quarantine.csv"
"""Each run's rejected rows, beside its ledger record, so they survive a failed run."""


class IngestFailed(Exception):
    """A run that did not publish; the message says why and what to do."""


@dataclass
class IngestResult:
    run: RunRecord
    snapshot: Snapshot | None
    stage_report: StageReport
    aggregates: AggregateReport | None = None
    graph_cutoffs: list[date] = field(default_factory=list)
    triples: int = 0
    knowledge_graph: KnowledgeGraphReport | None = None
    shacl: Any = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    #: per engine, what it computed in this run (``engine: spark`` only)
    engines: dict[str, list[str]] = field(default_factory=dict)

    @property
    def published(self) -> bool:
        return self.snapshot is not None

    def report_table(self) -> Table:
        """The short end-of-run report: rows in and out per entity, quarantine, stores, time."""
        run = self.run
        title = f"run {run.run_id}: {run.status}"
        if self.snapshot is not None:
            title += f" → snapshot {self.snapshot.id}"
        table = Table(title=title, title_justify="left")
        table.add_column("entity")
        table.add_column("files", justify="right")
        table.add_column("rows in", justify="right")
        table.add_column("loaded", justify="right")
        table.add_column("quarantined", justify="right")
        per_entity: dict[str, list[int]] = {}
        for report in self.stage_report.files:
            if report.skipped_unchanged:
                continue
            totals = per_entity.setdefault(report.entity, [0, 0, 0, 0])
            totals[0] += 1
            totals[1] += report.rows_in
            totals[2] += report.rows_loaded
            totals[3] += sum(report.quarantined.values())
        for entity, (files, rows_in, loaded, quarantined) in per_entity.items():
            table.add_row(entity, str(files), f"{rows_in:,}", f"{loaded:,}", f"{quarantined:,}")
        unchanged = sum(1 for report in self.stage_report.files if report.skipped_unchanged)
        if unchanged:
            table.add_row("(unchanged files)", str(unchanged), "", "", "")
        for reason, count in sorted(self.stage_report.quarantine_by_reason().items()):
            table.add_row(f"  quarantine: {reason}", "", "", "", f"{count:,}")
        if self.aggregates is not None:
            agg = self.aggregates
            table.add_row("numbers (on-net / off-net)", "", "", f"{agg.on_net:,} / {agg.off_net:,}",
                          "")
            table.add_row("call edges (pair × month)", "", "", f"{agg.call_edges:,}", "")
        if self.graph_cutoffs:
            table.add_row("call circles, graph features (cut-offs)", "", "",
                          ", ".join(c.isoformat() for c in self.graph_cutoffs), "")
        if self.triples:
            kg = self.knowledge_graph
            how = (f"updated: −{kg.removed:,} +{kg.added:,}" if kg and kg.updated_from
                   else "built")
            table.add_row(f"knowledge graph triples ({how})", "", "", f"{self.triples:,}", "")
        if self.shacl is not None:
            table.add_row(f"SHACL ({self.shacl.mode})", "", "",
                          "conforms" if self.shacl.conforms else "VIOLATIONS", "")
        for engine, parts in self.engines.items():
            table.add_row(f"computed by {engine}", "", "", "; ".join(parts), "")
        elapsed = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in
                            self.stage_seconds.items())
        table.caption = f"elapsed: {elapsed}"
        return table


class _Stages:
    """Times stages, records them in the ledger and shows progress."""

    def __init__(self, ledger: RunLedger, run: RunRecord, progress: Progress | None) -> None:
        self.ledger, self.run, self.progress = ledger, run, progress
        self.seconds: dict[str, float] = {}
        self.task: Any = None
        self.total: int | None = None

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[None]:
        self.ledger.stage(self.run, name)
        if self.progress is not None:
            self.task = self.progress.add_task(name, total=total)
        self.total = total
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)
        self.run.stage_seconds = dict(self.seconds)
        if self.progress is not None:
            self.progress.update(self.task, completed=self.total or 1, total=self.total or 1)

    def advance(self, label: str, done: int, total: int) -> None:
        """A stage's progress; its total may grow (cut-offs found stale on the way)."""
        self.total = total
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done, total=total,
                                 description=f"staging {label}")


def run_ingest(
    source_dir: Path,
    *,
    data_dir: Path | None = None,
    mapping: Path | None = None,
    encoding: str | None = None,
    keep: int = 3,
    console: Console | None = None,
    incremental: bool = True,
    engine: EngineSettings | None = None,
) -> IngestResult:
    """Ingest one source folder into a new published snapshot (or none if nothing changed).

    ``engine``: which engine computes the aggregates and graph tables (docs/scale-out.md);
    by default DuckDB.

    ``incremental``: write the knowledge graph as the previous snapshot's store plus what
    changed (:func:`graph.knowledge.update_knowledge_graph`) when that store was written
    by this version from the same ontology; False builds it anew.
    """
    source_dir = Path(source_dir)
    store = SnapshotStore(data_dir, keep=keep)
    if not source_dir.is_dir():
        raise IngestFailed(f"{source_dir} is not a folder; pass the folder that holds the exports")
    store.ensure()
    try:
        with store.writer_lock():
            return _locked_run(store, source_dir, mapping, encoding, console, incremental,
                               engine)
    except SnapshotStoreBusy as error:
        raise IngestFailed(str(error)) from None


def _locked_run(store: SnapshotStore, source_dir: Path, mapping: Path | None,
                encoding: str | None, console: Console | None, incremental: bool,
                engine: EngineSettings | None = None) -> IngestResult:
    ledger = RunLedger(store.runs_dir)
    run = ledger.start(source_dir.resolve())
    show = console is not None and os.environ.get("CALLCIRCLE_NO_PROGRESS") != "1"
    progress = (
        Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                 TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                 console=console, transient=False)
        if show else None
    )
    try:
        if progress is not None:
            with progress:
                return _run(store, ledger, run, source_dir, mapping, encoding, progress,
                            incremental, engine)
        return _run(store, ledger, run, source_dir, mapping, encoding, None, incremental,
                    engine)
    except SourceError as error:
        ledger.finish(run, "failed", error=str(error))
        raise IngestFailed(str(error)) from error
    except IngestFailed as error:
        ledger.finish(run, "failed", error=str(error))
        raise
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        ledger.finish(run, "failed", error=message)
        raise IngestFailed(f"run {run.run_id} failed in stage {run.stage!r}: {message}"
                           ) from error


def _run(
    store: SnapshotStore,
    ledger: RunLedger,
    run: RunRecord,
    source_dir: Path,
    mapping: Path | None,
    encoding: str | None,
    progress: Progress | None,
    incremental: bool = True,
    engine: EngineSettings | None = None,
) -> IngestResult:
    stages = _Stages(ledger, run, progress)
    previous = store.current()
    snapshot_id = store.new_snapshot_id()
    with store.building(run.run_id, copy_warehouse_from=previous) as building:
        scale_out = scale_out_stage(engine, building.path)
        con = duckdb.connect(str(building.warehouse_path))
        try:
            with stages.stage("stage sources"):
                stage_report = stage_sources(
                    con, source_dir, run_id=run.run_id, mapping=mapping, encoding=encoding,
                    progress=stages.advance, parts=True,
                )
            run.inputs = [
                {"file": f.file, "entity": f.entity, "sha256": f.sha256, "rows_in": f.rows_in,
                 "rows_loaded": f.rows_loaded, "rows_quarantined": sum(f.quarantined.values()),
                 "unchanged": f.skipped_unchanged}
                for f in stage_report.files
            ]
            run.quarantine_by_reason = stage_report.quarantine_by_reason()
            if run.quarantine_by_reason:
                export_quarantine(con, run.run_id, ledger.runs_dir / run.run_id / QUARANTINE_FILE)
            result = IngestResult(run, None, stage_report, stage_seconds=stages.seconds)
            if previous is not None and not stage_report.changed:
                ledger.finish(run, "unchanged")
                return result
            with stages.stage("aggregate"):
                computed = scale_out.aggregates(con) if scale_out is not None else ()
                result.aggregates = build_aggregates(con, computed=computed)
            run.counts = {
                "numbers": result.aggregates.numbers,
                "on_net": result.aggregates.on_net,
                "off_net": result.aggregates.off_net,
                "call_edges": result.aggregates.call_edges,
            }
            todo = graph_cutoffs_to_build(con, stage_report)
            with stages.stage("call circles", total=len(todo)):
                result.graph_cutoffs = build_graph_cutoffs(
                    con, todo, on_built=lambda cutoff, done, total: stages.advance(
                        f"call circles as of {cutoff}", done, total), engine=scale_out)
            if scale_out is not None:
                result.engines = scale_out.engines()
            con.execute("CHECKPOINT")
            with stages.stage("knowledge graph"):
                provenance = provenance_turtle(_provenance(run, source_dir, snapshot_id))
                kg_report = _knowledge_graph(con, building, previous if incremental else None,
                                             provenance)
            result.knowledge_graph = kg_report
            result.triples = kg_report.triples
            run.counts["triples"] = kg_report.triples
        finally:
            if scale_out is not None:
                scale_out.close()
            con.close()
        with stages.stage("shacl"):
            sample = None if result.triples <= SHACL_FULL_LIMIT else SHACL_SAMPLE_PER_CLASS
            result.shacl = validate_knowledge_graph(
                building.knowledge_graph_path, sample_per_class=sample
            )
        if not result.shacl.conforms:
            shown = "\n  ".join(result.shacl.violations[:5])
            raise IngestFailed(
                f"the knowledge graph does not conform to ontology/shapes.ttl "
                f"({result.shacl.mode} validation):\n  {shown}\n"
                "the column mapping produced values the ontology does not allow; fix the "
                "mapping or the shapes"
            )
        with stages.stage("publish"):
            building.write_manifest({
                "run_id": run.run_id,
                "source_dir": run.source_dir,
                "built_at": utc_now(),
                "previous_snapshot": previous.id if previous else None,
                "inputs": run.inputs,
                "counts": run.counts,
                "quarantine_by_reason": run.quarantine_by_reason,
                "engines": result.engines,
                "shacl": {"mode": result.shacl.mode, "conforms": result.shacl.conforms},
                "knowledge_graph": {
                    **knowledge_graph_fingerprint(),
                    "updated_from": previous.id if kg_report.updated_from else None,
                    "removed": kg_report.removed, "added": kg_report.added,
                },
            })
            result.snapshot = store.publish(building, snapshot_id)
        run.snapshot_id = result.snapshot.id
        ledger.finish(run, "published")
        return result


def _knowledge_graph(con: duckdb.DuckDBPyConnection, building: Snapshot,
                     previous: Snapshot | None, provenance: str) -> KnowledgeGraphReport:
    """The building snapshot's store: the previous one updated when it can be, else built."""
    fingerprint = knowledge_graph_fingerprint()
    if (previous is not None and previous.knowledge_graph_path.is_dir()
            and {k: previous.manifest.get("knowledge_graph", {}).get(k) for k in fingerprint}
            == fingerprint):
        try:
            return update_knowledge_graph(
                con, building.knowledge_graph_path, previous_store=previous.knowledge_graph_path,
                previous_warehouse=previous.warehouse_path, extra_turtle=[provenance])
        except KnowledgeGraphNotUpdatable:
            shutil.rmtree(building.knowledge_graph_path, ignore_errors=True)
    return build_knowledge_graph(con, building.knowledge_graph_path, extra_turtle=[provenance])


def export_quarantine(con: duckdb.DuckDBPyConnection, run_id: str, path: Path) -> int:
    """Write this run's quarantined rows (file, line, reason, detail, raw) to a CSV file."""
    import pyarrow.csv as pacsv

    table = con.sql(
        "SELECT entity, source_file, line, reason, detail, raw FROM quarantine "
        "WHERE run_id = ? ORDER BY source_file, line", params=[run_id]
    ).to_arrow_table()
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)
    return table.num_rows


def graph_cutoffs_to_build(con: duckdb.DuckDBPyConnection, stage_report: StageReport
                           ) -> list[date]:
    """Month-start cut-offs whose call circles and graph features must be (re)built.

    Every month start after the first month of calls, up to the one after the last, is a
    cut-off. Built: those not built yet, those after a month whose calls or churn events
    were reloaded in this run, and always the latest (it reflects today's master data).
    """
    if not table_exists(con, "call_edges"):
        return []
    ((first, last),) = con.execute("SELECT min(month), max(month) FROM call_edges").fetchall()
    if first is None:
        return []
    cutoffs = []
    month = month_start(first, 1)
    while month <= month_start(last, 1):
        cutoffs.append(month)
        month = month_start(month, 1)
    built: set[date] = set()
    if table_exists(con, "graph_features"):
        built = {row[0] for row in con.execute("SELECT DISTINCT cutoff FROM graph_features"
                                               ).fetchall()}
    reloaded = [
        _file_month(report.file) for report in stage_report.files
        if report.entity in ("cdrs", "churn_events") and not report.skipped_unchanged
    ]
    months = [month for month in reloaded if month is not None]
    stale_after = min(months) if months else None
    return [
        cutoff for cutoff in cutoffs
        if cutoff not in built or cutoff == cutoffs[-1]
        or (stale_after is not None and cutoff > stale_after)
    ]


def _file_month(file_name: str) -> date | None:
    """The month of a monthly file (``cdrs-2026-03.csv`` → 2026-03-01), else None."""
    try:
        return date.fromisoformat(Path(file_name).stem[-len("YYYY-MM"):] + "-01")
    except ValueError:
        return None


def _provenance(run: RunRecord, source_dir: Path, snapshot_id: str) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "started_at": run.started_at,
        "ended_at": utc_now(),
        "outcome": "published",
        "source_dir": str(source_dir),
        "snapshot_id": snapshot_id,
        "inputs": [i for i in run.inputs if not i.get("unchanged")],
        "quarantine_by_reason": run.quarantine_by_reason,
    }
