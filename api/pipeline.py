"""The main job on demo data, end to end, as the README's first command runs it.

Only composition lives here: each step is a function of ``ingest``, ``graph`` or
``insight``; this module decides the order and prints what came out.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from graph.snapshot import SnapshotStore


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
    subscribers: int = 20_000,
    months: int = 4,
    seed: int = 7,
    console: Console | None = None,
) -> None:
    """Generate (or reuse) a demo operator, ingest it into a snapshot, and report."""
    from ingest.job import run_ingest
    from ingest.synthetic import generate_operator

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
    console.print("[bold]2. ingest[/bold]")
    result = run_ingest(source_dir, data_dir=data_dir, console=console)
    console.print(result.report_table())
    store = SnapshotStore(data_dir)
    current = store.current()
    console.print(
        f"[bold green]done[/bold green] in {time.perf_counter() - started:.1f}s: snapshot "
        f"{current.id if current else '—'} in {store.root.resolve()}"
    )
