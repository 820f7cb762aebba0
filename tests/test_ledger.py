import subprocess
import sys
from pathlib import Path

from ingest.ledger import RunLedger


def test_run_lifecycle_is_recorded(tmp_path: Path) -> None:
    ledger = RunLedger(tmp_path / "runs")
    run = ledger.start(Path("/exports/2026-03"))
    assert [r.run_id for r in ledger.runs()] == [run.run_id]
    assert ledger.runs()[0].effective_status == "running"
    ledger.stage(run, "aggregate")
    assert ledger.runs()[0].stage == "aggregate"
    ledger.finish(run, "published")
    (record,) = ledger.runs()
    assert record.status == "published" and record.ended_at is not None


def test_killed_run_is_reported_failed_and_sealed(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    child = subprocess.run(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from ingest.ledger import RunLedger;"
         f"RunLedger(Path({str(runs_dir)!r})).start(Path('/src'))"],
        check=True, cwd=Path(__file__).parent.parent,
    )
    assert child.returncode == 0
    ledger = RunLedger(runs_dir)
    (orphan,) = ledger.runs()
    assert orphan.status == "running"
    assert orphan.effective_status == "failed"
    assert ledger.seal_abandoned() == [orphan.run_id]
    (sealed,) = ledger.runs()
    assert sealed.status == "failed" and "killed" in (sealed.error or "")
