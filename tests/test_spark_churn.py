"""The churn model on Spark: a stratified training sample, scores equal to the embedded ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from spark_fixtures import spark  # noqa: F401  (the session-wide fixture)

from insight.churn import ChurnRiskModel

pytestmark = pytest.mark.spark

ROWS = 3_000


def _features(seed: int = 0) -> pd.DataFrame:
    """A feature table with what the real one holds: counts, shares with gaps, a plan."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["Prepaid 30", "Postpaid 99", "Family"], ROWS)
    share = rng.random(ROWS)
    share[rng.random(ROWS) < 0.1] = np.nan
    frame = pd.DataFrame({
        "msisdn": [f"+86138{i:08d}" for i in range(ROWS)],
        "tenure_days": rng.integers(10, 3_000, ROWS),
        "arpu": rng.gamma(2.0, 40.0, ROWS),
        "churned_neighbour_share": share,
        "plan": pd.Series(plan, dtype=object).where(rng.random(ROWS) > 0.05, None),
    })
    logit = (-2.0 - frame["tenure_days"] / 1_500 + 2.5 * np.nan_to_num(share)
             + (plan == "Prepaid 30"))
    frame["churned"] = (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


FEATURES = ["tenure_days", "arpu", "churned_neighbour_share", "plan"]


def test_scores_on_spark_equal_the_embedded_path(spark) -> None:  # noqa: F811
    from insight.spark import churn_risk_on_spark, training_sample

    table = _features()
    frame = spark.createDataFrame(table).repartition(3)  # several batches, several tasks
    sample = training_sample(frame, label="churned", others=0.5, seed=1)
    churners = int(table["churned"].sum())
    assert (sample["churned"] == 1).sum() == churners > 100  # every churner kept
    assert 0.4 < (sample["churned"] == 0).sum() / (ROWS - churners) < 0.6
    model = ChurnRiskModel(n_estimators=60, learning_rate=0.1, num_leaves=15,
                           min_child_samples=20, reg_lambda=1.0, time_budget_s=None)
    model.fit(sample[FEATURES], sample["churned"])
    scored = churn_risk_on_spark(model, frame).toPandas().set_index("msisdn")
    embedded = pd.Series(model.predict_proba(table[FEATURES])[:, 1], index=table["msisdn"])
    assert len(scored) == ROWS and scored.index.is_unique
    theirs = scored["churn_risk"].reindex(embedded.index).to_numpy()
    assert np.all(np.abs(theirs - embedded.to_numpy())
                  <= 1e-9 * np.maximum(np.abs(embedded.to_numpy()), 1e-300))
    assert embedded.std() > 0.05  # the scores differ from row to row: a real comparison
    with pytest.raises(ValueError, match="lacks"):
        churn_risk_on_spark(model, frame.drop("plan"))
