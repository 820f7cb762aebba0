"""What ``callcircle train``, ``score`` and ``report`` call: the insight stage of a snapshot.

* :func:`train` — churn features at every labelled cut-off of the current snapshot, the
  honest evaluation (time split, or stratified CV for a one-shot export, each model with
  and without graph features, logistic baseline beside it), then the final model refit
  on all labelled cut-offs. Saved with its metadata (cut-offs, features, metrics, library
  versions) in the data directory's models folder (``SnapshotStore.models_dir``) —
  beside the snapshot, which is never modified once published.
* :func:`score` — risk and reasons, value and CLV, value tiers, network value and
  segments as of the scoring cut-off, written to ``churn_scores``, ``subscriber_value``,
  ``customer_value``, ``segments`` and ``segment_members`` in a **new** snapshot derived
  from the current one (warehouse and knowledge graph copied, tables added, the same
  values written to the knowledge graph as ``cc:`` terms, published). Its manifest names
  the snapshot whose model scored it, so the model is found in the models folder only.
* :func:`write_report` — the self-contained HTML report (``insight.report``).
"""

from __future__ import annotations

import json
import pickle
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from graph.catalogue import dump_reasons
from graph.snapshot import Snapshot, SnapshotStore
from graph.warehouse import (
    latest_cutoff,
    month_start,
    new_run_id,
    replace_cutoff_frame,
    table_exists,
)
from insight.churn import ChurnRiskModel, logistic_baseline
from insight.evaluation import (
    calibration_table,
    cross_validate,
    lift_table,
    roc_points,
    time_split,
)
from insight.features import (
    ID_COLUMNS,
    FeatureSet,
    available_cutoffs,
    churn_features,
    export_cutoff,
)
from insight.knowledge import write_insight_triples
from insight.segments import SegmentModel, segment_movement
from insight.value import (
    CostModel,
    current_value,
    follow_rate,
    lifetime_value,
    network_value_from_warehouse,
    pareto,
    prepaid_clv,
    prepaid_history,
    value_tiers,
)

__all__ = ["InsightSettings", "TrainedChurnModel", "load_model", "score", "train",
           "write_report"]

MODEL_FILE = "churn-model.pkl"
METADATA_FILE = "churn-model.json"
FOLLOW_WINDOW_DAYS = 61
"""A contact who left this many days before the cut-off or fewer counts as just gone."""
SEGMENT_FEATURES = ["calls_out", "minutes_out", "sms_out", "contacts", "active_days", "data_mb",
                    "night_calls", "monthly_revenue", "tenure_months",
                    "percent_out_of_network_contacts", "percent_nocturnal"]
LIBRARIES = ("scikit-learn", "lightgbm", "numpy", "pandas", "scipy", "duckdb")


@dataclass
class InsightSettings:
    """Knobs of the insight stage; every one is recorded in the model metadata."""

    history_months: int = 3
    horizon_months: int = 24
    annual_discount: float = 0.10
    cost_model: CostModel = field(default_factory=CostModel)
    n_tiers: int = 5
    tier_by: str = "clv"
    segment_k_range: tuple[int, ...] = (3, 4, 5, 6, 7, 8)
    top_reasons: int = 3
    cv_folds: int = 5
    seed: int = 0
    max_train_cutoffs: int = 6
    """Most recent labelled cut-offs used for training (older behaviour is less relevant)."""
    churn_time_budget_s: float | None = 30.0
    """Seconds each churn model fit may spend choosing its capacity (None: no limit)."""
    score_threads: int = 1
    """Threads for churn risk and its reasons (TreeSHAP is most of a scoring run); the
    scores do not depend on it. -1: every core."""


@dataclass
class TrainedChurnModel:
    """The fitted churn model and what it was trained on."""

    model: ChurnRiskModel
    features: list[str]
    graph_features: list[str]
    metadata: dict[str, Any]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _curves(y: np.ndarray, risks: dict[str, np.ndarray]) -> dict[str, Any]:
    """Plot data for the report: ROC, lift per decile and calibration per model/feature set."""
    return {
        "roc": {k: roc_points(y, r).round(4).to_dict("list") for k, r in risks.items()},
        "lift": {k: lift_table(y, r).round(4).to_dict("list") for k, r in risks.items()},
        "calibration": {k: calibration_table(y, r).round(4).to_dict("list")
                        for k, r in risks.items()},
    }


def _training_frames(con: duckdb.DuckDBPyConnection, settings: InsightSettings
                     ) -> tuple[dict[date, FeatureSet], str]:
    cutoffs = available_cutoffs(con, settings.history_months)
    if cutoffs:
        cutoffs = cutoffs[-settings.max_train_cutoffs:]
        return {c: churn_features(con, c) for c in cutoffs}, "time split"
    export = export_cutoff(con)
    if export is None:
        raise ValueError("the warehouse has no churn events to learn from")
    cutoff, as_of = export
    return {cutoff: churn_features(con, cutoff, as_of=as_of)}, "stratified CV"


def evaluate_churn(frames: dict[date, FeatureSet], settings: InsightSettings
                   ) -> dict[str, Any]:
    """Boosted and logistic, with and without graph features, on the same rows.

    Several labelled cut-offs: train on those before the last, test on the last. One
    (a one-shot export): stratified K-fold CV.
    """
    models = {"logistic": logistic_baseline(random_state=settings.seed),
              "boosted": ChurnRiskModel(time_budget_s=settings.churn_time_budget_s,
                                        random_state=settings.seed)}
    last = frames[max(frames)]
    feature_sets = ({"with graph": last.features, "without graph": last.non_graph_features}
                    if last.graph_features else {"all features": last.features})
    if len(frames) >= 2:
        result = time_split({c: (f.X[last.features], f.y) for c, f in frames.items()}, models,
                            feature_sets=feature_sets,
                            groups={c: f.frame["subscription_id"] for c, f in frames.items()})
        metrics = result["metrics"]
        risks = {f"{m} {s}": r for (m, s), r in result["risk"].items()}
        y = result["y"]
        extra = {"train_cutoffs": [str(c) for c in result["train_cutoffs"]],
                 "test_cutoff": str(result["test_cutoff"])}
    else:
        rows, risks = [], {}
        for set_name, columns in feature_sets.items():
            cv = cross_validate(models, last.X[columns], last.y, n_splits=settings.cv_folds,
                                random_state=settings.seed)
            for model_name, row in cv["metrics"].iterrows():
                rows.append({"model": model_name, "features": set_name, **row.to_dict()})
                risks[f"{model_name} {set_name}"] = cv["risk"][model_name]
        metrics, y = pd.DataFrame(rows), last.y
        extra = {"cutoff": str(last.cutoff), "folds": settings.cv_folds}
    kind = "time split" if len(frames) >= 2 else "stratified CV"
    return {"kind": kind, **extra, "metrics": metrics.to_dict("records"),
            "curves": _curves(y, risks), "churners": int(np.sum(y)), "rows": len(y)}


def train(store: SnapshotStore, *, settings: InsightSettings | None = None,
          snapshot: Snapshot | None = None) -> TrainedChurnModel:
    """Evaluate and fit the churn model on a snapshot (default: the current one); save it
    with its metadata in ``store.models_dir(snapshot.id)``."""
    settings = settings or InsightSettings()
    snapshot = snapshot or store.current()
    if snapshot is None:
        raise ValueError("no published snapshot: run `callcircle ingest` first")
    started = time.perf_counter()
    with snapshot.reading() as con:
        frames, kind = _training_frames(con, settings)
    evaluation = evaluate_churn(frames, settings)
    last = frames[max(frames)]
    features = last.features
    X = pd.concat([f.X[features] for f in frames.values()], ignore_index=True)
    y = np.concatenate([f.y for f in frames.values()])
    groups = np.concatenate([f.frame["subscription_id"] for f in frames.values()])
    periods = np.concatenate([np.full(len(f.y), np.datetime64(c, "D"))
                              for c, f in frames.items()])
    model = ChurnRiskModel(time_budget_s=settings.churn_time_budget_s,
                           random_state=settings.seed).fit(X, y, groups=groups,
                                                           periods=periods)
    # Follow rate for network value: excess churn after a contact left (in the last two
    # months, as the graph stage sees it), measured.
    exposed = (X["days_since_contact_left"] <= FOLLOW_WINDOW_DAYS).to_numpy() \
        if "days_since_contact_left" in X else None
    meta = {
        "model_id": f"churn-{snapshot.id}",
        "snapshot": snapshot.id,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cutoffs": [str(c) for c in frames],
        "evaluation_kind": kind,
        "features": features,
        "feature_groups": last.groups,
        "graph_features": last.graph_features,
        "rows": len(y),
        "churners": int(y.sum()),
        "follow_rate": follow_rate(exposed, y) if exposed is not None else 0.0,
        "evaluation": evaluation,
        "capacity": model.search_summary(),
        "feature_importance": model.feature_importance().round(3).to_dict(),
        "settings": {k: (v if not isinstance(v, CostModel) else v.as_dict())
                     for k, v in asdict(settings).items()},
        "libraries": _versions(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    folder = store.models_dir(snapshot.id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / MODEL_FILE, "wb") as handle:
        pickle.dump(model, handle)
    (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str),
                                        encoding="utf-8")
    return TrainedChurnModel(model, features, last.graph_features, meta)


def model_snapshot_id(store: SnapshotStore, snapshot: Snapshot, *,
                      newest: bool = False) -> str:
    """The snapshot whose model goes with ``snapshot``: the one whose model scored it (its
    manifest says, and snapshots derived from it copy the manifest), else itself.

    ``newest`` (what scoring asks for): a model trained on ``snapshot`` itself first, so
    that `callcircle train` on a scored snapshot is what the next `callcircle score` uses;
    the report keeps describing the model that scored the snapshot.
    """
    trained_here = (store.models_dir(snapshot.id) / MODEL_FILE).exists()
    if newest and trained_here:
        return snapshot.id
    scored_by = snapshot.manifest.get("insight", {}).get("model_snapshot")
    if scored_by and (store.models_dir(scored_by) / MODEL_FILE).exists():
        return scored_by
    return snapshot.id


def load_model(store: SnapshotStore, snapshot: Snapshot | None = None, *,
               newest: bool = False) -> TrainedChurnModel:
    """The model that scored ``snapshot`` (default current), else the one trained on it;
    ``newest``: the one trained on it first (see :func:`model_snapshot_id`)."""
    snapshot = snapshot or store.current()
    if snapshot is None:
        raise ValueError("no published snapshot")
    folder = store.models_dir(model_snapshot_id(store, snapshot, newest=newest))
    if not (folder / MODEL_FILE).exists():
        raise FileNotFoundError(
            f"no churn model for snapshot {snapshot.id}: run `callcircle train`")
    with open(folder / MODEL_FILE, "rb") as handle:
        model = pickle.load(handle)  # our own artefact, written by train()
    meta = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    return TrainedChurnModel(model, meta["features"], meta["graph_features"], meta)


def scoring_cutoff(con: duckdb.DuckDBPyConnection, settings: InsightSettings
                   ) -> tuple[date, date | None]:
    """The first day after the last month of data (who leaves next month?), or the one-shot
    export's cut-off."""
    cutoffs = available_cutoffs(con, settings.history_months)
    if cutoffs:
        return month_start(cutoffs[-1], 1), None
    export = export_cutoff(con)
    if export is None:
        raise ValueError("cannot place a scoring cut-off: no monthly data and no churn events")
    return export


def _previous_segments(con: duckdb.DuckDBPyConnection, cutoff: date
                       ) -> tuple[pd.DataFrame | None, pd.Series | None]:
    last = latest_cutoff(con, "segments", at_most=cutoff)
    if last is None:
        return None, None
    seg = con.execute("SELECT * FROM segments WHERE cutoff = ?", [last]).df()
    centroids = seg.set_index("segment_id")[[c for c in seg.columns if c.startswith("mean_")]]
    centroids.columns = [c[len("mean_"):] for c in centroids.columns]
    members = con.execute("SELECT subscription_id, segment_id FROM segment_members "
                          "WHERE cutoff = ?", [last]).df()
    return centroids, members.set_index("subscription_id")["segment_id"]


def score_tables(con: duckdb.DuckDBPyConnection, trained: TrainedChurnModel,
                 settings: InsightSettings) -> dict[str, Any]:
    """Compute every insight table as of the scoring cut-off (read-only on ``con``)."""
    cutoff, as_of = scoring_cutoff(con, settings)
    fs = churn_features(con, cutoff, as_of=as_of)
    X = fs.frame.reindex(columns=trained.features)
    trained.model.set_params(n_jobs=settings.score_threads)
    risk = trained.model.predict_proba(X)[:, 1]
    reasons = trained.model.reasons(X, top=settings.top_reasons)
    scores = fs.frame[ID_COLUMNS].copy()
    scores.insert(0, "cutoff", cutoff)
    scores["churn_risk"] = risk
    scores["risk_rank"] = pd.Series(-risk).rank(method="first").astype(int).to_numpy()
    scores["risk_decile"] = np.minimum((scores["risk_rank"] - 1) * 10 // max(len(risk), 1) + 1,
                                       10)
    scores["reasons"] = [dump_reasons(r) for r in reasons]
    scores["model_id"] = trained.metadata["model_id"]

    value = current_value(con, as_of or cutoff, cost_model=settings.cost_model)
    value = value.merge(scores[["subscription_id", "churn_risk"]], on="subscription_id",
                        how="left")
    value["churn_risk"] = value["churn_risk"].fillna(float(np.mean(risk)) if len(risk) else 0)
    value["clv"] = lifetime_value(value["monthly_margin"], value["churn_risk"],
                                  horizon_months=settings.horizon_months,
                                  annual_discount=settings.annual_discount)
    value["clv_method"] = "churn survival"
    prepaid = value["payment_type"].eq("prepaid")
    if prepaid.any() and table_exists(con, "payments"):
        history = prepaid_history(con, as_of or cutoff)
        history = history[history["subscription_id"].isin(value.loc[prepaid, "subscription_id"])]
        margin_rate = 1 - settings.cost_model.revenue_share
        # Top-ups carry the revenue; the variable share of cost is taken off (per-line costs
        # stop when the line goes quiet, which BG/NBD does not date).
        bg = prepaid_clv(history, horizon_months=settings.horizon_months,
                         annual_discount=settings.annual_discount, margin=margin_rate)
        mapped = value["subscription_id"].map(bg)
        use = prepaid & mapped.notna()
        value.loc[use, "clv"] = mapped[use]
        value.loc[use, "clv_method"] = "BG/NBD + Gamma-Gamma"
    if table_exists(con, "call_edges"):
        by_number = value.set_index("msisdn")["clv"].clip(lower=0)
        nv = network_value_from_warehouse(con, cutoff, by_number,
                                          trained.metadata.get("follow_rate", 0.0))
        value["network_value"] = value["msisdn"].map(nv).fillna(0.0).to_numpy()
    else:
        value["network_value"] = 0.0
    value["value_tier"] = value_tiers(value[settings.tier_by], settings.n_tiers)
    value.insert(0, "cutoff", cutoff)
    customers = value.groupby("customer_id").agg(
        lines=("subscription_id", "size"), monthly_revenue=("monthly_revenue", "sum"),
        monthly_margin=("monthly_margin", "sum"), clv=("clv", "sum"),
        network_value=("network_value", "sum"), tenure_months=("tenure_months", "max"),
        churn_risk=("churn_risk", "max")).reset_index()
    customers["value_tier"] = value_tiers(customers[settings.tier_by], settings.n_tiers)
    customers.insert(0, "cutoff", cutoff)

    behaviour = fs.frame[["subscription_id", "msisdn", "customer_id", "payment_type",
                          *[c for c in SEGMENT_FEATURES if c in fs.frame.columns]]].merge(
        value[["subscription_id", "monthly_revenue"]], on="subscription_id", how="left")
    segment_columns = [c for c in SEGMENT_FEATURES if c in behaviour.columns
                       and behaviour[c].notna().any()]
    previous, previous_members = _previous_segments(con, cutoff)
    seg_model = SegmentModel(k_range=settings.segment_k_range, random_state=settings.seed)
    seg_model.fit(behaviour[segment_columns], previous=previous)
    behaviour["segment_id"] = seg_model.predict(behaviour[segment_columns])
    profiles = seg_model.profiles(behaviour[segment_columns],
                                  categorical=behaviour[["payment_type"]].fillna("unknown"))
    profiles.insert(0, "cutoff", cutoff)
    members = behaviour[["subscription_id", "customer_id", "msisdn", "segment_id"]].copy()
    members.insert(0, "cutoff", cutoff)
    movement = None
    if previous_members is not None:
        members["previous_segment_id"] = members["subscription_id"].map(previous_members)
        movement = segment_movement(previous_members,
                                    members.set_index("subscription_id")["segment_id"])
    else:
        members["previous_segment_id"] = pd.Series(pd.NA, index=members.index, dtype="Int64")
    return {
        "cutoff": cutoff, "churn_scores": scores, "subscriber_value": value,
        "customer_value": customers, "segments": profiles, "segment_members": members,
        "segment_movement": movement,
        "summary": {
            "cutoff": str(cutoff), "subscribers_scored": len(scores),
            "expected_churners_next_month": float(risk.sum()),
            "revenue_share_top_20pct": pareto(customers["monthly_revenue"]),
            "segments": len(profiles),
            "segment_selection_scores": {str(k): v for k, v
                                         in seg_model.selection_scores_.items()},
        },
    }


def score(store: SnapshotStore, *, settings: InsightSettings | None = None,
          trained: TrainedChurnModel | None = None, run_id: str | None = None) -> Snapshot:
    """Score the current snapshot and publish a new one holding the insight tables."""
    settings = settings or InsightSettings()
    current = store.current()
    if current is None:
        raise ValueError("no published snapshot: run `callcircle ingest` first")
    trained = trained or load_model(store, current, newest=True)
    started = time.perf_counter()
    with current.reading() as con:
        tables = score_tables(con, trained, settings)
    run_id = run_id or new_run_id("insight")

    def write(out: duckdb.DuckDBPyConnection, building: Snapshot) -> dict[str, Any]:
        kg_path = building.knowledge_graph_path
        triples = write_insight_triples(kg_path, tables) if kg_path.exists() else 0
        for name in ("churn_scores", "subscriber_value", "customer_value", "segments",
                     "segment_members"):
            replace_cutoff_frame(out, name, tables["cutoff"], tables[name])
        return {
            **tables["summary"], "model_id": trained.metadata["model_id"],
            "model_snapshot": trained.metadata["snapshot"],
            "knowledge_graph_triples": triples,
            "seconds": round(time.perf_counter() - started, 2),
            "segment_movement": (tables["segment_movement"].to_dict()
                                 if tables["segment_movement"] is not None else None),
        }

    return store.derive(run_id, write, manifest_key="insight", parent=current)


def write_report(store: SnapshotStore, out_path: Path, *,
                 snapshot: Snapshot | None = None, locale: str | None = None) -> Path:
    """Write the HTML report for a scored snapshot (default current) to ``out_path``.

    ``locale`` (``graph.locales``, English by default) is the language of its headings,
    charts and churn reasons.
    """
    from insight.report import render_report

    snapshot = snapshot or store.current()
    if snapshot is None:
        raise ValueError("no published snapshot")
    trained = load_model(store, snapshot)
    with snapshot.reading() as con:
        html = render_report(con, trained.metadata, snapshot.manifest, locale=locale)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(html, encoding="utf-8")
    return out_path

