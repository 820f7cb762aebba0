"""Churn risk on the real IBM Telco file, ingested through its column mapping.

The export has no calls, so no graph features: this is the "runs without a call graph"
case. Stratified 5-fold CV against the logistic baseline measured in the same run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingest.load import stage_sources
from insight.churn import ChurnRiskModel, logistic_baseline
from insight.evaluation import cross_validate
from insight.features import FeatureSet, available_cutoffs, churn_features, export_cutoff

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
IBM = SHARED_DATA / "ibm-telco-customer-churn.csv"
MAPPING = ROOT / "ingest" / "mappings" / "ibm-telco.yaml"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    if not IBM.exists():
        pytest.skip(f"{IBM} not present")
    source = tmp_path_factory.mktemp("ibm")
    (source / IBM.name).symlink_to(IBM)
    con = duckdb.connect()
    stage_sources(con, source, run_id="ibm", mapping=MAPPING)
    return con


@pytest.fixture(scope="module")
def features(warehouse: duckdb.DuckDBPyConnection) -> FeatureSet:
    assert available_cutoffs(warehouse) == []  # one export, no monthly history
    cutoff, as_of = export_cutoff(warehouse)
    return churn_features(warehouse, cutoff, as_of=as_of)


def test_feature_table_from_the_mapping(features: FeatureSet) -> None:
    assert "graph" not in features.groups and "behaviour" not in features.groups
    # 7,043 customers less the 11 not billed yet (tenure 0, so not active at the cut-off).
    assert len(features.frame) == 7032
    assert features.y.sum() == 1869
    assert {"plan", "tenure_months", "arpu"} <= set(features.features)


def test_boosted_reaches_logistic_baseline(features: FeatureSet) -> None:
    report = cross_validate({"logistic": logistic_baseline(), "boosted": ChurnRiskModel()},
                            features.X, features.y, n_splits=5)
    metrics = report["metrics"]
    print("\n" + metrics.round(4).to_string())
    assert metrics.loc["boosted", "roc_auc"] >= metrics.loc["logistic", "roc_auc"]
    assert metrics.loc["boosted", "pr_auc"] >= metrics.loc["logistic", "pr_auc"]
    # Calibration: no worse than the (well calibrated) logistic model, and small.
    assert metrics.loc["boosted", "ece"] <= max(0.03, 1.5 * metrics.loc["logistic", "ece"])
    assert metrics.loc["boosted", "brier"] <= metrics.loc["logistic", "brier"]


def test_reasons_in_words_on_the_full_export() -> None:
    """On the full file (all service columns) the reasons name the known churn drivers."""
    if not IBM.exists():
        pytest.skip(f"{IBM} not present")
    frame = pd.read_csv(IBM)
    y = (frame.pop("Churn") == "Yes").astype(int).to_numpy()
    X = frame.drop(columns="customerID")
    X["TotalCharges"] = pd.to_numeric(X["TotalCharges"], errors="coerce")
    model = ChurnRiskModel().fit(X, y)
    assert list(model.feature_names_in_) == list(X.columns)
    sample = X.sample(500, random_state=1)
    reasons = model.reasons(sample, top=3)
    assert len(reasons) == len(sample)
    assert all(1 <= len(r) <= 3 and all(item["text"] for item in r) for r in reasons)
    # Contributions are exact: they add up to the raw score.
    contrib = model.contributions(sample)
    assert np.allclose(contrib.sum(axis=1), model.decision_function(sample))
    # Month-to-month contract is the best-known churn driver in this file.
    riskiest = sample.iloc[np.argsort(-model.predict_proba(sample)[:, 1])[:20]]
    texts = [item["text"] for r in model.reasons(riskiest) for item in r]
    assert any("Month-to-month" in t for t in texts)
