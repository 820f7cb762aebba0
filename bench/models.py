"""The insight models' figures: the metrics table of docs/models.md, and scoring speed.

    python -m bench.models                       # IBM Telco, CDNOW, synthetic 20k
    python -m bench.models --subscribers 100000 --months 9 --graph-stage
    python -m bench.models --score-rows 1000000  # time to train and score 1M subscribers

Prints:

1. IBM Telco (real file, ``../shared/data``): stratified 5-fold CV, logistic vs boosted,
   on the full export and on what the ingest mapping keeps;
2. CDNOW: BG/NBD and Gamma-Gamma parameters against Fader, Hardie & Lee (2005);
3. a synthetic operator (contagion on and off): time split on the last cut-off, each
   model with and without graph features, and how often a contagion churner's top reason
   is a graph feature;
4. time to train on, and to score (risk, reasons, segments), ``--score-rows``
   subscribers.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from insight.churn import ChurnRiskModel, boosting_baselines, logistic_baseline
from insight.clv import BetaGeoModel, GammaGammaModel
from insight.evaluation import cross_validate, time_split
from insight.features import (
    LABEL,
    FeatureSet,
    available_cutoffs,
    churn_features,
    export_cutoff,
)

ROOT = Path(__file__).resolve().parents[1]
IBM = ROOT.parent / "shared" / "data" / "ibm-telco-customer-churn.csv"
COLUMNS = ["roc_auc", "pr_auc", "lift_top_decile", "brier", "ece"]


def ibm_telco() -> None:
    from ingest.load import stage_sources

    models = {"logistic": logistic_baseline(), **boosting_baselines(),
              "boosted": ChurnRiskModel()}
    frame = pd.read_csv(IBM)
    y = (frame.pop("Churn") == "Yes").astype(int).to_numpy()
    X = frame.drop(columns="customerID")
    X["TotalCharges"] = pd.to_numeric(X["TotalCharges"], errors="coerce")
    full = cross_validate(models, X, y)["metrics"][COLUMNS]
    print("IBM Telco, full export (all 19 columns), stratified 5-fold CV")
    print(full.round(4).to_string(), "\n")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / IBM.name).symlink_to(IBM)
        con = duckdb.connect()
        stage_sources(con, Path(tmp), run_id="bench",
                      mapping=ROOT / "ingest" / "mappings" / "ibm-telco.yaml")
        cutoff, as_of = export_cutoff(con)
        fs = churn_features(con, cutoff, as_of=as_of)
    mapped = cross_validate(models, fs.X, fs.y)["metrics"][COLUMNS]
    print(f"IBM Telco through the ingest mapping ({len(fs.features)} warehouse features), "
          "stratified 5-fold CV")
    print(mapped.round(4).to_string(), "\n")


def cdnow() -> None:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or spec.origin is None:
        print("CDNOW: lifetimes (data files) not installed\n")
        return
    data = Path(spec.origin).parent / "datasets"
    summary = pd.read_csv(data / "cdnow_customers_summary.csv")
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    money = pd.read_csv(data / "cdnow_customers_summary_with_transactions.csv")
    gg = GammaGammaModel().fit(money["x"], money["zbar"])
    table = pd.DataFrame({
        "fitted": [bg.r_, bg.alpha_, bg.a_, bg.b_, gg.p_, gg.q_, gg.v_],
        "published": [0.243, 4.414, 0.793, 2.426, 6.25, 3.74, 15.44],
    }, index=["r", "alpha", "a", "b", "p", "q", "gamma"])
    table["rel. diff"] = table["fitted"] / table["published"] - 1
    print("CDNOW (2,357 customers): BG/NBD and Gamma-Gamma vs Fader, Hardie & Lee (2005)")
    print(table.round(4).to_string(), f"\nlog-likelihood {bg.log_likelihood_:.2f}\n")


def operator_warehouse(workdir: Path, name: str, subscribers: int, months: int, seed: int,
                       contagion: bool = True, graph_stage: bool = True
                       ) -> duckdb.DuckDBPyConnection:
    """Generate a synthetic operator and stage it into a warehouse (graph stage optional)."""
    from graph.stage import build_graph_stage
    from ingest.aggregate import build_aggregates
    from ingest.load import stage_sources
    from ingest.synthetic import generate_operator

    source = workdir / f"operator-{name}"
    started = time.perf_counter()
    generate_operator(source, subscribers=subscribers, months=months, seed=seed,
                      contagion=contagion, progress=False)
    con = duckdb.connect(str(workdir / f"warehouse-{name}.duckdb"))
    stage_sources(con, source, run_id="bench")
    build_aggregates(con)
    print(f"operator {name}: generated and staged in {time.perf_counter() - started:.0f}s")
    if graph_stage:  # the graph stage's features (PageRank, circles, churn activation…)
        started = time.perf_counter()
        for cutoff in available_cutoffs(con):
            build_graph_stage(con, cutoff=cutoff)
        print(f"operator {name}: graph stage on {len(available_cutoffs(con))} cut-offs in "
              f"{time.perf_counter() - started:.0f}s")
    return con


def synthetic(subscribers: int, months: int, seed: int, workdir: Path,
              graph_stage: bool = False) -> FeatureSet:
    """Print the time-split table with contagion on and off; return the contagion-on
    operator's last cut-off features."""
    kept: FeatureSet | None = None
    for contagion in (True, False):
        name = f"contagion-{'on' if contagion else 'off'}"
        con = operator_warehouse(workdir, name, subscribers, months, seed, contagion,
                                 graph_stage)
        source = workdir / f"operator-{name}"
        frames = {c: churn_features(con, c) for c in available_cutoffs(con)}
        last = frames[max(frames)]
        started = time.perf_counter()
        result = time_split({c: (f.X[last.features], f.y) for c, f in frames.items()},
                            {"logistic": logistic_baseline(), **boosting_baselines(),
                             "boosted": ChurnRiskModel()},
                            feature_sets={"with graph": last.features,
                                          "without graph": last.non_graph_features},
                            groups={c: f.frame["subscription_id"] for c, f in frames.items()})
        trained = time.perf_counter() - started
        print(f"synthetic operator, {subscribers:,} subscribers × {months} months, contagion "
              f"{'on' if contagion else 'off'} (8 fits in "
              f"{trained:.0f}s); train {', '.join(map(str, result['train_cutoffs']))}, "
              f"test {result['test_cutoff']}")
        print(result["metrics"].set_index(["model", "features"])[COLUMNS].round(4).to_string())
        causes = pd.read_csv(source / "ground-truth" / "churn_causes.csv")
        model = result["models"][("boosted", "with graph")]
        churners = last.frame[last.frame["churned"] == 1]
        reasons = model.reasons(churners[last.features], top=3)
        graph = set(last.graph_features)
        is_graph = np.array([r[0]["feature"] in graph for r in reasons])
        any_graph = np.array([any(x["feature"] in graph for x in r) for r in reasons])
        cause = churners["subscription_id"].map(causes.set_index("subscription_id")["cause"])
        contagion_mask = cause.eq("contagion").to_numpy()
        if contagion_mask.any():
            print(f"a graph feature is the top reason for {is_graph[contagion_mask].mean():.0%}"
                  f" and among the 3 reasons for {any_graph[contagion_mask].mean():.0%} of "
                  f"{contagion_mask.sum()} contagion churners; of the others "
                  f"{is_graph[~contagion_mask].mean():.0%} and "
                  f"{any_graph[~contagion_mask].mean():.0%}")
        print()
        con.close()
        kept = kept or last
    assert kept is not None
    return kept


def million_subscribers(rows: int, sample: FeatureSet | None, seed: int, workdir: Path) -> None:
    """Time to train and to score ``rows`` subscribers, as ``callcircle train|score`` do.

    A warehouse of 1M subscribers × several months is beyond a 2-core bench run, so the
    rows are real feature rows of a synthetic operator (the last cut-off of the one above,
    else a 10k × 6 operator built here) resampled with replacement to ``rows``: the same
    columns, types, missing values and label rate the models see in production.
    """
    from insight.segments import SegmentModel
    from insight.stage import SEGMENT_FEATURES

    if sample is None:
        con = operator_warehouse(workdir, "speed", 10_000, 6, seed)
        sample = churn_features(con, max(available_cutoffs(con)))
        con.close()
    picks = np.random.default_rng(seed).integers(0, len(sample.frame), rows)
    frame = sample.frame.iloc[picks].reset_index(drop=True)
    X, y = frame[sample.features], frame[LABEL].to_numpy(dtype=int)
    print(f"{rows:,} subscribers × {len(sample.features)} features (resampled from "
          f"{len(sample.frame):,} real feature rows, churn rate {y.mean():.3f}), 2 cores")
    timings = {}
    started = time.perf_counter()
    model = ChurnRiskModel(random_state=seed).fit(X, y)
    timings["train: churn risk (capacity search + calibration + final)"] = (
        time.perf_counter() - started)
    started = time.perf_counter()
    model.predict_proba(X)
    timings["score: churn risk"] = time.perf_counter() - started
    started = time.perf_counter()
    model.reasons(X)
    timings["score: top-3 reasons (TreeSHAP)"] = time.perf_counter() - started
    columns = [c for c in SEGMENT_FEATURES if c in frame.columns]
    started = time.perf_counter()
    segments = SegmentModel(random_state=seed).fit(frame[columns])
    segments.predict(frame[columns])
    timings["score: segments (fit on a sample + assign all)"] = time.perf_counter() - started
    table = pd.Series(timings, name="seconds").round(1)
    print(table.to_string())
    print(f"chosen: {model.best_params_} after {len(model.cv_results_)} candidates"
          f"{'' if model.search_complete_ else ' (time budget reached)'}")
    print(f"train {timings[next(iter(timings))]:.0f}s, score "
          f"{sum(v for k, v in timings.items() if k.startswith('score')):.0f}s\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--graph-stage", action="store_true",
                        help="also run the graph stage, so graph_features joins the features")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["ibm", "cdnow", "synthetic", "speed"])
    args = parser.parse_args()
    if "ibm" not in args.skip and IBM.exists():
        ibm_telco()
    if "cdnow" not in args.skip:
        cdnow()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="bench-models-"))
    try:
        sample = None
        if "synthetic" not in args.skip:
            sample = synthetic(args.subscribers, args.months, args.seed, workdir,
                               args.graph_stage)
        if "speed" not in args.skip:
            million_subscribers(args.score_rows, sample, args.seed, workdir)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
