"""The main job on demo data, end to end, as the README's first command runs it.

Only composition lives here: each step is a function of ``ingest``, ``graph`` or
``insight``; this module decides the order and prints what came out.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from graph.snapshot import SnapshotStore
from insight.pipeline import score, train


def _source_matches(source_dir: Path, subscribers: int, months: int, seed: int) -> bool:
    """True if ``source_dir`` already holds the demo operator asked for (skip regenerating)."""
    params_file = source_dir / "ground-truth" / "params.json"
    if not params_file.exists():
        return False
    params = json.loads(params_file.read_text(encoding="utf-8"))
    return (params.get("subscribers"), params.get("months"), params.get("seed")) == (
        subscribers, months, seed
    )


def run_demo(
    source_dir: Path,
    *,
    data_dir: Path | None = None,
    subscribers: int = 10_000,
    months: int = 6,
    seed: int = 7,
    console: Console | None = None,
) -> None:
    """Generate (or reuse) a demo operator, ingest it into a snapshot, and report."""
    from ingest.job import run_ingest
    from ingest.synthetic import generate_operator
    from insight.pipeline import write_report

    console = console or Console(stderr=True)
    started = time.perf_counter()
    source_dir = Path(source_dir)
    if _source_matches(source_dir, subscribers, months, seed):
        console.print(f"[bold]1. demo operator[/bold] reusing {source_dir}")
    else:
        console.print(f"[bold]1. demo operator[/bold] {subscribers:,} subscribers × {months} "
                      f"months (seed {seed}) → {source_dir}")
        report = generate_operator(source_dir, subscribers=subscribers, months=months, seed=seed)
        console.print(report.summary())
    console.print("[bold]2. ingest[/bold] (validate, quarantine, warehouse, call circles, "
                  "knowledge graph, publish)")
    result = run_ingest(source_dir, data_dir=data_dir, console=console)
    console.print(result.report_table())
    store = SnapshotStore(data_dir)
    console.print("[bold]3. churn model[/bold] (time-split evaluation, with and without graph)")
    train_models(store, console=console)
    console.print("[bold]4. score[/bold] (churn risk and reasons, value, tiers, segments)")
    score_snapshot(store, console=console)
    report_path = store.root / "report.html"
    console.print("[bold]5. report[/bold]")
    write_report(store, report_path)
    current = store.current()
    console.print(
        f"[bold green]done[/bold green] in {time.perf_counter() - started:.1f}s: snapshot "
        f"{current.id if current else '—'} in {store.root.resolve()}\n"
        f"  report: {report_path.resolve()}\n"
        f"  serve it: callcircle serve --data-dir {store.root}"
    )


def train_models(store: SnapshotStore, *, console: Console) -> None:
    """Train the churn model on the current snapshot and print its evaluation."""
    trained = train(store)
    console.print(metrics_table(trained.metadata["evaluation"]))


def score_snapshot(store: SnapshotStore, *, console: Console) -> None:
    """Score the current snapshot into a new published one, holding the writer lock."""
    with store.writer_lock():
        snapshot = score(store)
    console.print(f"scored snapshot {snapshot.id} published")


def metrics_table(evaluation: dict) -> Table:
    """The churn evaluation as a table: one row per model and feature set."""
    table = Table(title=f"churn model evaluation ({evaluation.get('kind', '')}, "
                        f"{evaluation.get('rows', 0):,} subscribers, "
                        f"{evaluation.get('churners', 0):,} churners)",
                  title_justify="left")
    rows = evaluation.get("metrics", [])
    columns = [key for key in ("model", "features", "roc_auc", "pr_auc", "lift_top_decile",
                               "brier", "ece") if rows and key in rows[0]]
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "features") else "right")
    for row in rows:
        table.add_row(*[f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                        for c in columns])
    return table
