"""The churn model on the Spark engine: fitted in one process on a sample, scored on the cluster.

Training needs every row in one process (LightGBM), but not every subscriber: a
stratified sample of the feature table (all churners, a share of the others) is
collected to the driver and fitted with the project's :class:`insight.churn.ChurnRiskModel`
as on the embedded engine. Scoring needs no more than the fitted model beside each
batch of rows: the model is broadcast once per executor and applied with
``mapInPandas``, so the scores are the embedded path's, computed where the rows are.
PySpark is imported by this module only (the ``spark`` extra); docs/scale-out.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql.types import DoubleType, StructField, StructType

from insight.churn import ChurnRiskModel


def training_sample(features: DataFrame, *, label: str = "churned", others: float = 1.0,
                    seed: int = 0) -> pd.DataFrame:
    """Every row whose ``label`` is 1 and a share ``others`` of the rest, on the driver.

    Churners are the scarce class; keeping them all and thinning the others keeps what
    the model learns from while the sample fits one process. Probabilities fitted on a
    thinned sample are calibrated to it: pass ``others=1.0`` unless the table does not fit.
    """
    if not 0.0 < others <= 1.0:
        raise ValueError("others: a share in (0, 1]")
    sample = features.sampleBy(label, fractions={0: others, 1: 1.0}, seed=seed)
    return sample.toPandas()


def churn_risk_on_spark(model: ChurnRiskModel, features: DataFrame, *,
                        keys: Sequence[str] = ("msisdn",),
                        column: str = "churn_risk") -> DataFrame:
    """``keys`` and the model's churn probability per row of ``features``.

    The model is broadcast and applied per Arrow batch (``mapInPandas``); each batch
    goes through the same ``predict_proba`` as the embedded path, so a row's score does
    not depend on the engine.
    """
    names = list(model.feature_names_in_)
    if missing := [name for name in [*keys, *names] if name not in features.columns]:
        raise ValueError(f"churn_risk_on_spark: the feature table lacks {missing}")
    shipped = features.sparkSession.sparkContext.broadcast(model)
    schema = StructType([features.schema[key] for key in keys]
                        + [StructField(column, DoubleType(), False)])

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        fitted = shipped.value
        for batch in batches:
            out = batch[list(keys)].copy()
            out[column] = fitted.predict_proba(batch[names])[:, 1]
            yield out

    return features.select(*keys, *names).mapInPandas(score, schema)
