"""Ingest benchmark: the full ``callcircle ingest`` against DuckDB's bare aggregation.

Generates (or reuses) a synthetic operator, then in the same run:

1. the reference — DuckDB's own ``read_csv`` of the same CDR files and the same
   per-pair, per-month GROUP BY the ingest computes (no validation, no phone
   normalisation, no quarantine); and DuckDB doing the same while keeping the CDRs
   in the warehouse's ``cdrs`` table, in a database file, as the ingest must;
2. the ingest — staging with validation and quarantine, aggregation, knowledge
   graph, SHACL, publish;
3. the knowledge graph's reference — pyoxigraph's ``bulk_load`` alone, of a file holding
   the N-Triples the ingest streamed into its store (``--no-kg-reference`` skips it);

and prints rows/s and the ratio. Usage::

    python -m bench.ingest --subscribers 100000 --months 3 --workdir /tmp/callcircle-bench

``--incremental`` measures instead what a periodic run costs: the operator's last month
added to a data directory holding the months before it, against one full ingest of every
month into an empty data directory, in the same run; then the same files again (nothing
changed)::

    python -m bench.ingest --incremental --subscribers 100000 --months 4
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb
import pyoxigraph as ox
from rich.console import Console
from rich.table import Table

from graph.knowledge import (
    KnowledgeGraphCensus,
    knowledge_graph_census,
    knowledge_graph_sql,
    ntriples_copy,
)
from graph.snapshot import SnapshotStore
from graph.warehouse import new_run_id
from ingest.contract import ENTITIES
from ingest.job import IngestResult, run_ingest
from ingest.synthetic import generate_operator
from ingest.validate import SQL_TYPES, staged_table_ddl

BARE_AGGREGATION = """
SELECT month, a, b, count(*) FILTER (WHERE event_type = 'voice') AS calls,
       sum(duration_s) AS seconds, count(*) FILTER (WHERE event_type = 'sms') AS sms,
       min(start_time) AS first_contact, max(start_time) AS last_contact
FROM (
    SELECT date_trunc('month', start_time) AS month, least(caller, callee) AS a,
           greatest(caller, callee) AS b, event_type, duration_s, start_time
    FROM read_csv(?, header = true, auto_detect = true)
)
GROUP BY ALL
"""


def bare_duckdb(cdr_files: list[Path]) -> tuple[int, int, float]:
    """Rows read, pairs produced and seconds for DuckDB alone on the same files."""
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(
        f"CREATE TABLE edges AS {BARE_AGGREGATION}", [[str(p) for p in cdr_files]]
    )
    seconds = time.perf_counter() - started
    pairs = con.execute("SELECT count(*) FROM edges").fetchone()[0]
    rows = con.execute(
        "SELECT count(*) FROM read_csv(?, header = true)", [[str(p) for p in cdr_files]]
    ).fetchone()[0]
    con.close()
    return rows, pairs, seconds


def stored_duckdb(cdr_files: list[Path], workdir: Path) -> float:
    """DuckDB alone, keeping the CDRs: the floor of any ingest that stores them.

    The same files read into the warehouse's own ``cdrs`` table (same types and
    compression) in a database file, with no checks and no normalisation, then the same
    GROUP BY from that table. Returns the seconds of both.
    """
    path = workdir / "stored-reference.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute(staged_table_ddl(ENTITIES["cdrs"]))
    types = {c.name: SQL_TYPES[c.kind] for c in ENTITIES["cdrs"].columns}
    started = time.perf_counter()
    con.execute("INSERT INTO cdrs BY NAME SELECT * EXCLUDE (filename), "
                "filename AS _source_file FROM read_csv(?, header = true, types = ?, "
                "filename = true)", [[str(p) for p in cdr_files], types])
    from_table = BARE_AGGREGATION.replace("read_csv(?, header = true, auto_detect = true)",
                                          "cdrs")
    con.execute(f"CREATE TABLE edges AS {from_table}")
    seconds = time.perf_counter() - started
    con.close()
    path.unlink()
    return seconds


def bare_bulk_load(warehouse: Path, workdir: Path) -> tuple[int, float, float]:
    """The reference for the knowledge graph: pyoxigraph's own ``bulk_load`` of a file.

    The same N-Triples the ingest streams into its store are written to a file first
    (not timed with the load), then loaded alone into a fresh store. Returns the lines,
    the seconds to write them and the seconds to load them.
    """
    con = duckdb.connect(str(warehouse), read_only=True)
    sql, _ = knowledge_graph_sql(con)
    text = workdir / "reference.nt"
    started = time.perf_counter()
    con.execute(ntriples_copy(sql, text))
    write_seconds = time.perf_counter() - started
    con.close()
    lines = 0
    with open(text, "rb") as handle:
        while chunk := handle.read(1 << 24):
            lines += chunk.count(b"\n")
    target = workdir / "reference-store"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    store = ox.Store(str(target))
    store.bulk_load(path=str(text), format=ox.RdfFormat.N_TRIPLES, lenient=True)
    store.flush()
    del store
    load_seconds = time.perf_counter() - started
    text.unlink()
    shutil.rmtree(target, ignore_errors=True)
    return lines, write_seconds, load_seconds


def census_table(census: KnowledgeGraphCensus, subscribers: int, most: int = 20) -> Table:
    """Where the knowledge graph's triples go: per class of their subject, per predicate."""
    table = Table(title=f"knowledge graph: {census.triples:,} triples, "
                        f"{census.triples / max(subscribers, 1):,.0f} per subscriber")
    for column in ("class", "instances", "triples", "share", "predicate", "triples "):
        table.add_column(column, justify="left" if column in ("class", "predicate") else "right")
    classes = list(census.triples_by_class.items())
    predicates = list(census.predicates.items())[:most]
    for i in range(max(len(classes), len(predicates))):
        cls, n = classes[i] if i < len(classes) else ("", None)
        pred, m = predicates[i] if i < len(predicates) else ("", None)
        table.add_row(cls, f"{census.classes.get(cls, 0):,}" if cls else "",
                      f"{n:,}" if n is not None else "",
                      f"{n / census.triples:.1%}" if n is not None else "",
                      pred, f"{m:,}" if m is not None else "")
    return table


def incremental(source: Path, workdir: Path, console: Console) -> Table:
    """A month added to the months before it, against a full ingest of all, in one run."""
    months = sorted(p.stem[-len("YYYY-MM"):] for p in source.glob("cdrs-*.csv"))
    before = workdir / f"{source.name}-without-{months[-1]}"
    if not before.exists():
        shutil.copytree(source, before)
        for path in before.glob(f"*-{months[-1]}.csv"):
            path.unlink()
    incremental_dir, full_dir = workdir / "data-incremental", workdir / "data-full"
    for folder in (incremental_dir, full_dir):
        shutil.rmtree(folder, ignore_errors=True)
    timed: dict[str, tuple[float, IngestResult]] = {}
    for label, folder, data in (
            (f"months before {months[-1]} (not compared)", before, incremental_dir),
            (f"{months[-1]} added", source, incremental_dir),
            ("full ingest of every month", source, full_dir),
            ("the same files again", source, full_dir)):
        started = time.perf_counter()
        result = run_ingest(folder, data_dir=data, console=console)
        timed[label] = (time.perf_counter() - started, result)
    full_seconds = timed["full ingest of every month"][0]
    stages = sorted({stage for _, r in timed.values() for stage in r.stage_seconds},
                    key=["stage sources", "aggregate", "call circles", "knowledge graph",
                         "shacl", "publish"].index)
    table = Table(title=f"periodic run: {source.name}, {months[-1]} added vs a full ingest")
    for column in ("run", "seconds", "× full", *stages, "knowledge graph −/+"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for label, (seconds, result) in timed.items():
        kg = result.knowledge_graph
        table.add_row(label, f"{seconds:.2f}", f"{seconds / full_seconds:.2f}",
                      *[f"{result.stage_seconds[s]:.2f}" if s in result.stage_seconds else ""
                        for s in stages],
                      f"−{kg.removed:,} +{kg.added:,}" if kg and kg.updated_from else
                      ("built" if kg else ""))
    seconds = derive_seconds(incremental_dir)
    added = timed[f"{months[-1]} added"][0]
    table.add_row("a derived snapshot (nothing written)", f"{seconds:.2f}",
                  f"{seconds / full_seconds:.2f}", *["" for _ in stages],
                  f"{seconds / added:.1%} of the added month's run")
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    table.caption = f"peak RSS of the runs {peak_gib:.2f} GiB"
    return table


def derive_seconds(data_dir: Path) -> float:
    """What a derived snapshot (``score``, ``tags``) costs beyond its own work: the copy of
    the current snapshot's warehouse, the checkpoint of its knowledge graph, the links to
    its parts and the publish, with a ``write`` that adds nothing."""
    store = SnapshotStore(data_dir)
    started = time.perf_counter()
    store.derive(new_run_id("bench"), lambda con, building: {}, manifest_key="bench")
    return time.perf_counter() - started


def usage_table(data_dir: Path) -> Table:
    """Each snapshot's bytes on disk and what it shares with the others (hard links)."""
    table = Table(title=f"snapshots in {data_dir}")
    for column in ("snapshot", "MiB", "shared MiB", "its own MiB", "shared"):
        table.add_column(column, justify="left" if column in ("snapshot", "shared") else "right")
    for usage in SnapshotStore(data_dir).disk_usage():
        table.add_row(usage.snapshot.id, f"{usage.bytes / 2**20:,.1f}",
                      f"{usage.shared_bytes / 2**20:,.1f}", f"{usage.own_bytes / 2**20:,.1f}",
                      ", ".join(f"{part} {size / 2**20:,.1f}"
                                for part, size in usage.shared.items()))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/callcircle-bench"))
    parser.add_argument("--no-kg-reference", dest="kg_reference", action="store_false",
                        help="skip the reference load of the knowledge graph's N-Triples file")
    parser.add_argument("--incremental", action="store_true",
                        help="the last month added to the months before it, vs a full ingest")
    args = parser.parse_args()
    console = Console() if sys.stdout.isatty() else Console(width=200)

    source = args.workdir / f"source-{args.subscribers}x{args.months}-s{args.seed}"
    if not (source / "ground-truth" / "params.json").exists():
        started = time.perf_counter()
        generate_operator(source, subscribers=args.subscribers, months=args.months,
                          seed=args.seed, progress=True)
        console.print(f"generated {source} in {time.perf_counter() - started:.1f}s")
    if args.incremental:
        console.print(incremental(source, args.workdir, console))
        console.print(usage_table(args.workdir / "data-incremental"))
        return
    cdr_files = sorted(source.glob("cdrs-*.csv"))
    cdr_bytes = sum(p.stat().st_size for p in cdr_files)

    rows, pairs, bare_seconds = bare_duckdb(cdr_files)
    stored_seconds = stored_duckdb(cdr_files, args.workdir)

    data_dir = args.workdir / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    started = time.perf_counter()
    result = run_ingest(source, data_dir=data_dir, console=console)
    total_seconds = time.perf_counter() - started
    stages = result.stage_seconds
    all_sources = stages.get("stage sources", 0.0) + stages.get("aggregate", 0.0)
    staged = result.stage_report
    aggregate_seconds = result.aggregates.seconds if result.aggregates else {}
    cdr_steps = {"fingerprint of every source file": staged.fingerprint_seconds,
                 "CDR files: read, check, normalise, de-duplicate, store":
                     staged.load_seconds.get("cdrs", 0.0),
                 "CDRs and data usage written as Parquet parts": staged.parts_seconds,
                 "call edges from the stored CDRs": aggregate_seconds.get("call_edges", 0.0)}
    cdr_stage = sum(cdr_steps.values())
    kg_seconds = stages.get("knowledge graph", 0.0)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    reference = None
    if args.kg_reference and result.snapshot is not None:
        reference = bare_bulk_load(result.snapshot.warehouse_path, args.workdir)

    table = Table(title=f"ingest benchmark: {rows:,} CDR rows ({cdr_bytes / 2**20:,.0f} MiB CSV), "
                        f"{args.subscribers:,} subscribers × {args.months} months")
    for column in ("work", "seconds", "rows/s", "note"):
        table.add_column(column)
    table.add_row("DuckDB bare read_csv + GROUP BY", f"{bare_seconds:.2f}",
                  f"{rows / bare_seconds:,.0f}", f"{pairs:,} pair-months")
    table.add_row("DuckDB alone, keeping the CDRs: read_csv into the warehouse's cdrs "
                  "table, then the GROUP BY from it", f"{stored_seconds:.2f}",
                  f"{rows / stored_seconds:,.0f}",
                  f"{stored_seconds / bare_seconds:.2f}× bare: the floor of a stored CDR stage")
    table.add_row("ingest: CDR stage", f"{cdr_stage:.2f}", f"{rows / cdr_stage:,.0f}",
                  f"ratio {cdr_stage / bare_seconds:.2f}× bare (goal ≤ 2×), "
                  f"{cdr_stage / stored_seconds:.2f}× DuckDB keeping the CDRs")
    for step, seconds in cdr_steps.items():
        table.add_row(f"  {step}", f"{seconds:.2f}", "", "")
    table.add_row("ingest: stage sources + aggregate, all entities", f"{all_sources:.2f}",
                  "", f"{all_sources / bare_seconds:.2f}× bare")
    table.add_row("ingest: knowledge graph", f"{kg_seconds:.2f}",
                  f"{result.triples / kg_seconds:,.0f} triples/s" if kg_seconds else "",
                  f"{result.triples:,} triples (goal ≥ 250k/s)")
    if reference is not None:
        lines, write_seconds, load_seconds = reference
        table.add_row("pyoxigraph bare bulk_load of the same N-Triples file",
                      f"{load_seconds:.2f}", f"{lines / load_seconds:,.0f} triples/s",
                      f"{lines:,} lines (written first in {write_seconds:.1f} s, not counted); "
                      f"ingest at {kg_seconds / load_seconds:.2f}× its time")
    for stage, seconds in stages.items():
        table.add_row(f"  stage: {stage}", f"{seconds:.2f}", "", "")
    table.add_row("ingest total", f"{total_seconds:.2f}", "", f"peak RSS {peak_gib:.2f} GiB")
    console.print(table)
    if result.snapshot is not None:
        console.print(census_table(knowledge_graph_census(result.snapshot.knowledge_graph_path),
                                   args.subscribers))


if __name__ == "__main__":
    main()
