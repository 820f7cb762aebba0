"""Churn risk on the real IBM Telco file, ingested through its column mapping.

The export has no calls, so no graph features: this is the "runs without a call graph"
case. Stratified 5-fold CV against the logistic baseline measured in the same run, and one
80/20 split against the library defaults (``churn_fixtures``), on the full export and on
what the mapping keeps.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

pytest.register_assert_rewrite("churn_fixtures")
from churn_fixtures import assert_fits, compare, split  # noqa: E402

from ingest.load import stage_sources  # noqa: E402
from insight.churn import ChurnRiskModel, logistic_baseline  # noqa: E402
from insight.evaluation import cross_validate  # noqa: E402
from insight.features import (  # noqa: E402
    FeatureSet,
    available_cutoffs,
    churn_features,
    export_cutoff,
)

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


def _full_export() -> tuple[pd.DataFrame, np.ndarray]:
    if not IBM.exists():
        pytest.skip(f"{IBM} not present")
    frame = pd.read_csv(IBM)
    y = (frame.pop("Churn") == "Yes").astype(int).to_numpy()
    X = frame.drop(columns="customerID")
    X["TotalCharges"] = pd.to_numeric(X["TotalCharges"], errors="coerce")
    return X, y


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


def test_fits_the_mapped_export_against_library_defaults(features: FeatureSet) -> None:
    assert_fits(*compare(*split(features.X, features.y)))


def test_fits_the_full_export_against_library_defaults() -> None:
    assert_fits(*compare(*split(*_full_export())))


def test_reasons_in_words_on_the_full_export() -> None:
    """On the full file (all service columns) the reasons name the known churn drivers."""
    X, y = _full_export()
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
