"""The run ledger: one JSON record per ingest run, written atomically.

A record is written when a run starts (status ``running``, with its pid and stage)
and rewritten when it ends. A run killed with SIGKILL cannot write its end; its
record stays ``running`` with a pid that no longer exists, and the ledger reports
it as failed. The next run seals such records for good.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from graph.snapshot import RUN_FILE, pid_alive, write_atomic
from graph.warehouse import utc_stamp


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class RunRecord:
    run_id: str
    source_dir: str
    started_at: str
    pid: int
    status: str = "running"
    """``running``, ``published``, ``unchanged`` or ``failed``."""
    stage: str = "starting"
    ended_at: str | None = None
    snapshot_id: str | None = None
    error: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def effective_status(self) -> str:
        """The status, with a running record whose process is gone counted as failed."""
        if self.status == "running" and not pid_alive(self.pid):
            return "failed"
        return self.status


class RunLedger:
    """The run records of one data directory (``runs/<run_id>/run.json``)."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)

    def start(self, source_dir: Path) -> RunRecord:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.seal_abandoned()
        run = RunRecord(
            run_id=f"r{utc_stamp()}-{secrets.token_hex(3)}",
            source_dir=str(source_dir),
            started_at=utc_now(),
            pid=os.getpid(),
        )
        self.save(run)
        return run

    def save(self, run: RunRecord) -> None:
        run_dir = self.runs_dir / run.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / RUN_FILE, json.dumps(asdict(run), indent=2, default=str))

    def stage(self, run: RunRecord, stage: str) -> None:
        run.stage = stage
        self.save(run)

    def finish(self, run: RunRecord, status: str, *, error: str | None = None) -> None:
        run.status = status
        run.error = error
        run.ended_at = utc_now()
        self.save(run)

    def runs(self) -> list[RunRecord]:
        """All recorded runs, oldest first."""
        if not self.runs_dir.exists():
            return []
        records = []
        for run_file in sorted(self.runs_dir.glob(f"*/{RUN_FILE}")):
            try:
                records.append(RunRecord(**json.loads(run_file.read_text(encoding="utf-8"))))
            except (json.JSONDecodeError, TypeError):
                continue
        return sorted(records, key=lambda r: r.started_at)

    def seal_abandoned(self) -> list[str]:
        """Mark runs whose process died without finishing as failed."""
        sealed = []
        for run in self.runs():
            if run.status == "running" and run.effective_status == "failed":
                run.error = f"process {run.pid} ended during stage {run.stage!r} (killed)"
                self.finish(run, "failed", error=run.error)
                sealed.append(run.run_id)
        return sealed

    def table(self, limit: int = 20) -> Table:
        table = Table(title="ingest runs", show_lines=False)
        for column in ("run", "started (UTC)", "status", "stage", "snapshot", "quarantined"):
            table.add_column(column)
        for run in self.runs()[-limit:]:
            status = run.effective_status
            colour = {"published": "green", "unchanged": "cyan", "failed": "red"}.get(status, "")
            table.add_row(
                run.run_id,
                run.started_at[:19].replace("T", " "),
                f"[{colour}]{status}[/{colour}]" if colour else status,
                run.stage,
                run.snapshot_id or "",
                str(sum(run.quarantine_by_reason.values())),
            )
        return table
