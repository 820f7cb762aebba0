"""The synthetic operator's campaigns, evaluated; the staged operator shared with the KPI tests.

Only staging and aggregates (no circles, no knowledge graph): what campaign evaluation
and the KPI cube read. Cached under the temp folder by the code of ``ingest``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ingest.aggregate import build_aggregates
from ingest.load import stage_sources
from ingest.synthetic import generate_operator
from insight.campaigns import evaluate, evaluate_all

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBERS, MONTHS, SEED = 3000, 4, 11
CACHE = Path(tempfile.gettempdir()) / "callcircle-test-cache" / "marketing"


def _code_key() -> str:
    digest = hashlib.sha256(f"{SUBSCRIBERS}-{MONTHS}-{SEED}".encode())
    for path in sorted((ROOT / "ingest").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def staged_operator() -> tuple[Path, Path]:
    """(warehouse file, ground-truth folder) of the cached operator."""
    folder = CACHE / _code_key()
    target, truth = folder / "warehouse.duckdb", folder / "ground-truth"
    if target.exists() and truth.exists():
        return target, truth
    folder.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.iterdir():
        if stale != folder and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="operator-", dir=folder))
    try:
        source = work / "source"
        generate_operator(source, subscribers=SUBSCRIBERS, months=MONTHS, seed=SEED,
                          progress=False)
        con = duckdb.connect(str(work / "warehouse.duckdb"))
        stage_sources(con, source, run_id="fixture")
        build_aggregates(con)
        con.close()
        shutil.copytree(source / "ground-truth", work / "ground-truth")
        if not truth.exists():
            os.replace(work / "ground-truth", truth)
        os.replace(work / "warehouse.duckdb", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target, truth


# ---------------------------------------------------------------------------


def test_synthetic_campaigns_recover_the_planted_uplift() -> None:
    """Every campaign the generator ran: the planted response uplift lies in the measured
    95 % Newcombe interval, and the point estimate is the realised difference exactly."""
    warehouse, truth = staged_operator()
    planted = pd.read_csv(truth / "campaign_effects.csv").set_index("campaign_id")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for campaign_id, row in planted.iterrows():
            overall = evaluate(con, str(campaign_id))["overall"].iloc[0]
            assert overall["treated"] == row["treated"]
            assert overall["control"] == row["control"]
            realised = row["realised_treatment_rate"] - row["realised_control_rate"]
            assert overall["response_uplift"] == pytest.approx(realised, abs=1e-3)
            assert overall["uplift_low"] <= row["planted_response_uplift"] <= overall[
                "uplift_high"], campaign_id
            if row["objective"] != "winback":
                assert overall["treated_retention"] == pytest.approx(
                    row["realised_treatment_retention"], abs=1e-3)
                assert overall["control_retention"] == pytest.approx(
                    row["realised_control_retention"], abs=1e-3)
        summary = evaluate_all(con)
        assert list(summary["campaign_id"]) == sorted(planted.index)
    finally:
        con.close()
