"""Churn, value and segments on the synthetic operator, judged against same-run baselines.

Two small operators are generated and ingested (contagion on and off, same seed). Building
them is the slow part, so the warehouses are cached under the system temp folder, keyed by
the generator's and ingest's source code and the settings: a re-run reuses them.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import tempfile
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from sklearn.base import clone
from test_locales import has_chinese

from graph.catalogue import load_reasons, reason_texts
from graph.circles import size_distribution
from graph.knowledge import build_knowledge_graph, open_knowledge_graph
from graph.snapshot import SnapshotStore
from graph.stage import build_graph_stage
from graph.warehouse import month_start
from ingest.aggregate import build_aggregates
from ingest.load import stage_sources
from ingest.synthetic import generate_operator
from insight.churn import ChurnRiskModel, describe_feature, logistic_baseline, reasons_in
from insight.evaluation import expected_calibration_error, scores
from insight.features import FeatureSet, available_cutoffs, churn_features
from insight.report import render_report
from insight.stage import InsightSettings, load_model, score, train, write_report
from insight.tags import apply_tags, last_full_month, starter_library, write_tag_tables
from insight.value import (
    DEFAULT_TIER_LABELS,
    current_value,
    revenue_holdout,
    tier_movement,
    value_tiers,
)
from ontology import subscription_iri

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBERS, MONTHS, SEED = 3000, 7, 3
# Contagion three times the generator's default, so that 3,000 subscribers show it above
# sampling noise (at the default strength it is ~17 % of churners: about 15 in a test
# month); fewer calls per day keep the fixture quick. bench.models measures the defaults.
KNOBS = {"contagion_strength": 0.6, "events_per_subscriber_day": 1.5}
CACHE = Path(tempfile.gettempdir()) / "callcircle-test-cache" / "insight"
pytest.register_assert_rewrite("churn_fixtures")


def _code_key() -> str:
    digest = hashlib.sha256(f"{SUBSCRIBERS}-{MONTHS}-{SEED}-{sorted(KNOBS.items())}".encode())
    for path in sorted([*(ROOT / "ingest").rglob("*.py"), *(ROOT / "graph").glob("*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODE_KEY = _code_key()  # once per session: both operators must come from the same code


def _operator(contagion: bool) -> Path:
    """Warehouse file of a generated and ingested operator (cached)."""
    target = CACHE / CODE_KEY / f"contagion-{int(contagion)}.duckdb"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.iterdir():  # operators built by older code
        if stale != target.parent and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="insight-operator-", dir=target.parent))
    try:
        source = work / "source"
        generate_operator(source, subscribers=SUBSCRIBERS, months=MONTHS, seed=SEED,
                          contagion=contagion, progress=False, **KNOBS)
        con = duckdb.connect(str(work / "warehouse.duckdb"))
        stage_sources(con, source, run_id="fixture")
        build_aggregates(con)
        for cutoff in available_cutoffs(con):  # graph_features, as the ingest job writes it
            build_graph_stage(con, cutoff=cutoff)
        con.close()
        shutil.copyfile(source / "ground-truth" / "churn_causes.csv",
                        target.with_suffix(".causes.csv"))
        os.replace(work / "warehouse.duckdb", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _frames(path: Path) -> dict[date, FeatureSet]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {c: churn_features(con, c) for c in available_cutoffs(con)}
    finally:
        con.close()


def _before_last(frames: dict[date, FeatureSet]
                 ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, FeatureSet]:
    """Every cut-off but the last stacked (rows, labels, subscription ids), and the last."""
    cutoffs = sorted(frames)
    last = frames[cutoffs[-1]]
    X = pd.concat([frames[c].X[last.features] for c in cutoffs[:-1]], ignore_index=True)
    y = np.concatenate([frames[c].y for c in cutoffs[:-1]])
    groups = np.concatenate([frames[c].frame["subscription_id"] for c in cutoffs[:-1]])
    return X, y, groups, last


def _rolling(frames: dict[date, FeatureSet], tests: int = 2) -> pd.DataFrame:
    """Time split repeated on the last ``tests`` cut-offs (train on all earlier ones), test
    predictions pooled: more churners to judge by than one month of a small operator."""
    cutoffs = sorted(frames)
    last = frames[cutoffs[-1]]
    sets = {"with graph": last.features, "without graph": last.non_graph_features}
    # The whole search, without a time budget: the figures must not depend on the load.
    models = {"logistic": logistic_baseline(), "boosted": ChurnRiskModel(time_budget_s=None)}
    rows = []
    for test in cutoffs[-tests:]:
        train_cuts = [c for c in cutoffs if c < test]
        X = pd.concat([frames[c].X[last.features] for c in train_cuts], ignore_index=True)
        y = np.concatenate([frames[c].y for c in train_cuts])
        groups = np.concatenate([frames[c].frame["subscription_id"] for c in train_cuts])
        periods = np.concatenate([np.full(len(frames[c].y), i)
                                  for i, c in enumerate(train_cuts)])
        held = frames[test]
        out = held.frame[["subscription_id", "churned"]].assign(cutoff=test)
        for set_name, columns in sets.items():
            for name, model in models.items():
                grouped = {"groups": groups, "periods": periods} if name == "boosted" else {}
                fitted = clone(model).fit(X[columns], y, **grouped)
                out[f"{name} {set_name}"] = fitted.predict_proba(held.X[columns])[:, 1]
        rows.append(out)
    return pd.concat(rows, ignore_index=True)


def _auc(y: np.ndarray, risk: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) identity: fast enough to bootstrap."""
    positives = y == 1
    n1, n0 = positives.sum(), (~positives).sum()
    return float((rankdata(risk)[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _paired_auc_gap(y: np.ndarray, a: np.ndarray, b: np.ndarray, n: int = 200,
                    seed: int = 0) -> tuple[float, float]:
    """AUC(a) − AUC(b) and its bootstrap standard error (same resampled rows for both)."""
    rng = np.random.default_rng(seed)
    gap = _auc(y, a) - _auc(y, b)
    draws = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        draws.append(_auc(y[i], a[i]) - _auc(y[i], b[i]))
    return float(gap), float(np.std(draws))


@pytest.fixture(scope="module")
def contagion_on() -> Path:
    return _operator(True)


@pytest.fixture(scope="module")
def contagion_off() -> Path:
    return _operator(False)


@pytest.fixture(scope="module")
def predictions_on(contagion_on: Path) -> pd.DataFrame:
    return _rolling(_frames(contagion_on))


def _metrics(pred: pd.DataFrame) -> pd.DataFrame:
    y = pred["churned"].to_numpy()
    columns = [c for c in pred.columns if c.startswith(("boosted", "logistic"))]
    return pd.DataFrame({c: scores(y, pred[c]) for c in columns}).T


def test_boosted_beats_logistic(predictions_on: pd.DataFrame) -> None:
    metrics = _metrics(predictions_on)
    print("\n" + metrics.round(4).to_string())
    for features in ("with graph", "without graph"):
        assert metrics.loc[f"boosted {features}", "roc_auc"] > \
            metrics.loc[f"logistic {features}", "roc_auc"]
        assert metrics.loc[f"boosted {features}", "pr_auc"] > \
            metrics.loc[f"logistic {features}", "pr_auc"]


def test_fits_the_operator_against_library_defaults(contagion_on: Path) -> None:
    """Train on every cut-off but the last (subscribers repeat: grouped internal folds),
    test on the last, with graph features."""
    from churn_fixtures import assert_fits, compare

    X, y, groups, last = _before_last(_frames(contagion_on))
    assert len(np.unique(groups)) < len(groups)
    assert_fits(*compare(X, y, last.X[last.features], last.y, groups=groups))


def test_graph_features_help_when_churn_spreads(predictions_on: pd.DataFrame) -> None:
    y = predictions_on["churned"].to_numpy()
    for model in ("boosted", "logistic"):
        gap, se = _paired_auc_gap(y, predictions_on[f"{model} with graph"].to_numpy(),
                                  predictions_on[f"{model} without graph"].to_numpy())
        print(f"\n{model}: AUC gain from graph features {gap:+.4f} ± {se:.4f}")
        assert gap > 0


def test_graph_features_do_no_harm_without_contagion(contagion_off: Path) -> None:
    pred = _rolling(_frames(contagion_off))
    y = pred["churned"].to_numpy()
    gap, se = _paired_auc_gap(y, pred["boosted with graph"].to_numpy(),
                              pred["boosted without graph"].to_numpy())
    print(f"\nno contagion: AUC change from graph features {gap:+.4f} ± {se:.4f}")
    assert gap > -2 * se


def test_calibration_error_is_bounded(predictions_on: pd.DataFrame) -> None:
    y = predictions_on["churned"].to_numpy()
    boosted = expected_calibration_error(y, predictions_on["boosted with graph"])
    logistic = expected_calibration_error(y, predictions_on["logistic with graph"])
    # No worse than the baseline by more than a quarter of the churn rate, and the mean
    # predicted risk tracks the observed rate.
    assert boosted <= logistic + 0.25 * y.mean()
    assert abs(predictions_on["boosted with graph"].mean() - y.mean()) < 0.5 * y.mean()


def _graph_reason_share(model: ChurnRiskModel, churners: pd.DataFrame,
                        last: FeatureSet) -> np.ndarray:
    """Per churner: does one of their reasons (the top 3 a subscriber is given) name a
    graph feature?"""
    graph = set(last.graph_features)
    return np.array([any(r["feature"] in graph for r in reasons)
                     for reasons in model.reasons(churners[last.features], top=3)])


def test_contagion_churners_are_explained_by_their_circle(contagion_on: Path) -> None:
    """From the generator's ground truth: the churners who left because their contacts
    did are given a call-graph reason more often than other churners, and more often than
    by the same model fitted on graph features shuffled across rows (their signal gone,
    their distribution kept)."""
    X, y, groups, last = _before_last(_frames(contagion_on))
    churners = last.frame[last.frame["churned"] == 1]
    causes = pd.read_csv(contagion_on.with_suffix(".causes.csv"))
    contagion = churners["subscription_id"].map(
        causes.set_index("subscription_id")["cause"]).eq("contagion").to_numpy()
    assert contagion.sum() >= 10
    model = ChurnRiskModel(time_budget_s=None).fit(X, y, groups=groups)
    graph = _graph_reason_share(model, churners, last)
    rng = np.random.default_rng(0)
    shuffled = X.copy()
    shuffled[last.graph_features] = X[last.graph_features].to_numpy()[rng.permutation(len(X))]
    blind = _graph_reason_share(ChurnRiskModel(time_budget_s=None).fit(shuffled, y, groups=groups),
                                churners, last)
    print(f"\na reason from the call graph: contagion churners {graph[contagion].mean():.0%} "
          f"({contagion.sum()}), other churners {graph[~contagion].mean():.0%} "
          f"({(~contagion).sum()}); graph features shuffled: {blind[contagion].mean():.0%}")
    assert graph[contagion].mean() > graph[~contagion].mean()
    assert graph[contagion].mean() > blind[contagion].mean()


@pytest.fixture(scope="module")
def scored_store(contagion_on: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> SnapshotStore:
    store = SnapshotStore(tmp_path_factory.mktemp("insight-data"))
    building = store.begin("fixture")
    shutil.copyfile(contagion_on, building.warehouse_path)
    con = duckdb.connect(str(building.warehouse_path))
    build_knowledge_graph(con, building.knowledge_graph_path)
    con.close()
    store.publish(building)
    settings = InsightSettings(segment_k_range=(3, 4, 5, 6), max_train_cutoffs=3)
    trained = train(store, settings=settings)
    score(store, settings=settings, trained=trained)
    return store


def test_scores_and_reasons_for_every_subscriber(scored_store: SnapshotStore) -> None:
    snapshot = scored_store.current()
    assert snapshot is not None and snapshot.manifest["derived_from"]
    meta = load_model(scored_store, snapshot).metadata
    assert {"scikit-learn", "lightgbm"} <= set(meta["libraries"])
    assert meta["evaluation"]["kind"] == "time split" and meta["graph_features"]
    capacity = meta["capacity"]  # what the search chose, and every candidate's CV figures
    assert capacity["candidates"] == len(capacity["cv_results"]) >= 1
    best = min(capacity["cv_results"], key=lambda r: r["cv_log_loss"])
    assert capacity["best_params"] == {k: best[k] for k in capacity["best_params"]}
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    scores_table = con.execute("SELECT * FROM churn_scores").df()
    assert len(scores_table) > 0.8 * SUBSCRIBERS
    assert scores_table["reasons"].map(reason_texts).map(len).ge(1).all()
    assert scores_table["churn_risk"].between(0, 1).all()
    subscriber_value = con.execute("SELECT * FROM subscriber_value").df()
    assert set(subscriber_value["subscription_id"]) == set(scores_table["subscription_id"])
    assert subscriber_value["value_tier"].nunique() == 5
    assert {"churn survival", "BG/NBD + Gamma-Gamma"} <= set(subscriber_value["clv_method"])
    assert (subscriber_value["network_value"] > 0).any()
    members = con.execute("SELECT count(*) FROM segment_members").fetchall()[0][0]
    assert members == len(scores_table)
    con.close()


def test_the_model_is_found_in_the_models_folder_only(scored_store: SnapshotStore) -> None:
    """Scoring names its model in the manifest; snapshots derived later find it there."""
    scored = scored_store.current()
    assert scored is not None
    model_snapshot = scored.manifest["insight"]["model_snapshot"]
    assert model_snapshot != scored.id
    assert not (scored.path / "models").exists()
    assert (scored_store.models_dir(model_snapshot) / "churn-model.pkl").exists()
    derived = scored_store.derive("after-scoring", lambda con, building: {},
                                  manifest_key="noop")
    assert not (derived.path / "models").exists()
    trained = load_model(scored_store, derived)
    assert trained.metadata["snapshot"] == model_snapshot
    assert trained.metadata["model_id"] == load_model(scored_store, scored).metadata["model_id"]


def test_a_model_trained_on_a_scored_snapshot_is_what_the_next_scoring_uses(
    scored_store: SnapshotStore,
) -> None:
    scored = scored_store.current()
    assert scored is not None
    scoring = scored.manifest["insight"]["model_snapshot"]
    retrained = scored_store.models_dir(scored.id)
    assert not retrained.exists()
    # what `callcircle train` on the scored snapshot leaves: a model of its own
    shutil.copytree(scored_store.models_dir(scoring), retrained)
    meta_file = retrained / "churn-model.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta_file.write_text(json.dumps({**meta, "snapshot": scored.id,
                                     "model_id": f"churn-{scored.id}"}), encoding="utf-8")
    try:
        assert load_model(scored_store, scored, newest=True).metadata["snapshot"] == scored.id
        # the report describes the model that scored the snapshot
        assert load_model(scored_store, scored).metadata["snapshot"] == scoring
    finally:
        shutil.rmtree(retrained)


def test_scores_are_queryable_by_sparql(scored_store: SnapshotStore) -> None:
    snapshot = scored_store.current()
    assert snapshot is not None and snapshot.manifest["insight"]["knowledge_graph_triples"] > 0
    graph = open_knowledge_graph(snapshot.knowledge_graph_path)
    rows = list(graph.query("""
        SELECT ?customer ?risk ?reason ?profile WHERE {
            ?customer cc:valueTier ?tier ; cc:churnProbability ?risk ; cc:inSegment ?segment .
            ?tier skos:prefLabel "platinum" .
            ?segment skos:definition ?profile .
            ?line cc:heldBy ?customer ; cc:churnReason ?reason .
        } ORDER BY DESC(?risk) LIMIT 5"""))
    assert rows and all(0 <= float(r[1]) <= 1 and str(r[2]) and str(r[3]) for r in rows)
    count = next(iter(graph.query("SELECT (COUNT(?s) AS ?n) WHERE { ?s a cc:Subscription ; "
                                  "cc:churnProbability ?p }")))[0]
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    scored = con.execute("SELECT count(*) FROM churn_scores").fetchall()[0][0]
    con.close()
    assert int(count) == scored


def test_reasons_read_the_same_in_the_api_the_graph_and_the_report(
        scored_store: SnapshotStore) -> None:
    """The model's reasons, stored once in churn_scores, are the phrases every reader shows
    (the API's ``ChurnRisk.reasons`` reads them through ``reasons_in``)."""
    snapshot = scored_store.current()
    assert snapshot is not None
    trained = load_model(scored_store, snapshot)
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    cur = con.execute("SELECT * FROM churn_scores ORDER BY risk_rank LIMIT 15")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    frame = churn_features(con, rows[0]["cutoff"]).frame.set_index("subscription_id")
    con.close()
    X = frame.loc[[row["subscription_id"] for row in rows]].reindex(columns=trained.features)
    expected = [[r["text"] for r in line]
                for line in trained.model.reasons(X, top=InsightSettings().top_reasons)]
    assert [reasons_in(row["reasons"]) for row in rows] == expected
    graph = open_knowledge_graph(snapshot.knowledge_graph_path)
    for row, texts in zip(rows, expected, strict=True):
        stated = {str(r[0]) for r in graph.query(
            f"SELECT ?r WHERE {{ <{subscription_iri(row['subscription_id'])}> "
            "cc:churnReason ?r }")}
        assert stated == set(texts)
    report = write_report(scored_store, scored_store.root / "reasons.html").read_text("utf-8")
    assert html.escape("; ".join(expected[0])) in report


def test_segment_ids_are_stable_on_a_rerun(scored_store: SnapshotStore) -> None:
    first = scored_store.current()
    settings = InsightSettings(segment_k_range=(3, 4, 5, 6), max_train_cutoffs=3)
    second = score(scored_store, settings=settings)
    assert second.id != first.id  # a new snapshot; the first is untouched
    read = [duckdb.connect(str(s.warehouse_path), read_only=True) for s in (first, second)]
    a, b = (con.execute("SELECT subscription_id, segment_id FROM segment_members "
                        "ORDER BY subscription_id").df() for con in read)
    profiles = [con.execute("SELECT segment_id, profile FROM segments ORDER BY segment_id")
                .df() for con in read]
    for con in read:
        con.close()
    assert (a["segment_id"].to_numpy() == b["segment_id"].to_numpy()).all()
    assert profiles[0].equals(profiles[1])
    movement = second.manifest["insight"]["segment_movement"]
    assert movement is not None


def test_report_is_self_contained(scored_store: SnapshotStore) -> None:
    path = write_report(scored_store, scored_store.root / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text.count("<svg") >= 5
    assert "without graph" in text and "Pareto" in text and "Segments" in text
    assert "Capacity chosen on this operator" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text


def test_report_in_chinese(scored_store: SnapshotStore) -> None:
    """``callcircle report --locale zh-CN``: headings and the call list's reasons in Chinese."""
    english = write_report(scored_store, scored_store.root / "en.html").read_text("utf-8")
    assert write_report(scored_store, scored_store.root / "en2.html",
                        locale="en").read_text("utf-8") == english
    chinese = write_report(scored_store, scored_store.root / "zh.html",
                           locale="zh-CN").read_text("utf-8")
    assert '<html lang="en">' in english and '<html lang="zh-CN">' in chinese
    for heading in ("概览", "本周挽留外呼名单", "客户价值", "客户细分"):
        assert f"<h2>{heading}</h2>" in chinese and heading not in english
    assert "<h2>Segments</h2>" in english and "<h2>Segments</h2>" not in chinese
    with scored_store.current().reading() as con:
        scored = con.execute("SELECT churn_risk, reasons FROM churn_scores WHERE cutoff = "
                             "(SELECT max(cutoff) FROM churn_scores)").df()
    # the subscribers surely on the list of 15: riskier than the 16th riskiest
    bar = scored["churn_risk"].nlargest(16).iloc[-1]
    listed = scored[scored["churn_risk"] > bar]
    assert len(listed) >= 1
    for stored in listed["reasons"]:
        worded = [describe_feature(r["feature"], r["value"], locale="zh-CN")
                  for r in load_reasons(stored)]
        assert html.escape("; ".join(worded)) in chinese
        assert html.escape("; ".join(reason_texts(stored))) in english
        assert html.escape("; ".join(reason_texts(stored))) not in chinese


class _TextNodes(HTMLParser):
    """The report's text nodes outside data cells (``td``) and code (library versions)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.nodes: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in ("meta", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip() and not {"td", "code", "style"} & set(self.open):
            self.nodes.append(data)


NAMES = ("callcircle", "Newcombe", "Brier", "PageRank")
"""Names that read the same in Chinese."""


def _english_words(text: str, identifiers: set[str]) -> list[str]:
    """ASCII words left once identifiers (with digits, `_`, `-`), acronyms (ROC, AUC, L2)
    and names are taken out: what would be English prose."""
    for name in (*NAMES, *sorted(identifiers, key=len, reverse=True)):
        text = text.replace(name, " ")
    text = re.sub(r"[A-Za-z0-9_.\-/:+]*[0-9_][A-Za-z0-9_.\-/:+]*", " ", text)
    text = re.sub(r"[A-Z]{2,}[a-z]?", " ", text)
    return re.findall(r"[A-Za-z]{3,}", text)


def test_report_in_chinese_has_no_english_prose_and_a_picture_per_section(
        scored_store: SnapshotStore, tmp_path: Path) -> None:
    snapshot = scored_store.current()
    meta = load_model(scored_store, snapshot).metadata
    # the scored warehouse with the call circles of its cut-off (the graph stage's tables)
    warehouse = tmp_path / "with-circles.duckdb"
    shutil.copyfile(snapshot.warehouse_path, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        cutoff = con.execute("SELECT max(cutoff) FROM customer_value").fetchall()[0][0]
        build_graph_stage(con, cutoff=cutoff)
        write_tag_tables(con, apply_tags(con, starter_library(), last_full_month(con)))
        chinese = render_report(con, meta, snapshot.manifest, locale="zh-CN")
        english = render_report(con, meta, snapshot.manifest)
        bands = size_distribution(con)
        campaigns = {row[0] for row in con.execute("SELECT campaign_id FROM campaigns")
                     .fetchall()}
    finally:
        con.close()
    assert sum(b["circles"] for b in bands) > 10
    assert [b["band"] for b in bands] == ["1-4", "5-9", "10-19", "20-49", "50+"]
    identifiers = {snapshot.id, meta["model_id"], *campaigns}  # features by display name
    parser = _TextNodes()
    parser.feed(chinese)
    prose = {node: words for node in parser.nodes
             if (words := _english_words(node, identifiers))}
    assert prose == {}
    assert sum(1 for node in parser.nodes if has_chinese(node)) > 50
    # every section after the summary has its picture, in both languages
    for report in (chinese, english):
        sections = report.split("<h2>")[2:]
        assert len(sections) >= 6
        for section in sections:
            assert "<svg" in section, section[:80]
    pictures = re.findall(r'aria-label="([^"]+)"', chinese)
    for title in ("按风险十分位的提升度（梯度提升）", "覆盖的流失用户", "校准",
                  "帕累托：收入按客户占比", "价值分层迁移", "交往圈规模分布", "各标签客户数"):
        assert title in pictures, pictures
    en_pictures = re.findall(r'aria-label="([^"]+)"', english)
    for title in ("Lift by risk decile (boosted)", "Churners captured", "Calibration",
                  "Pareto: revenue by share of customers", "Movement between value tiers",
                  "Circle sizes", "Customers per tag"):
        assert title in en_pictures, en_pictures
    # the tier movement counts every customer of both months once
    with snapshot.reading() as con:
        movement = tier_movement(con, cutoff)
        before = current_value(con, month_start(cutoff, -1))["customer_id"].nunique()
        now = current_value(con, cutoff)["customer_id"].nunique()
    assert int(movement.drop(columns="gone").to_numpy().sum()) == now
    assert int(movement.drop(index="new").to_numpy().sum()) == before
    assert movement.loc["new"].sum() > 0 or movement["gone"].sum() > 0 or before == now
    diagonal = sum(movement.loc[t, t] for t in DEFAULT_TIER_LABELS)
    assert 0 < diagonal < now  # most stay on their rung, some move
    # English prose as it was
    assert "Logistic regression is the baseline; “without graph” drops the call-circle " \
        "features on the same split." in english
    assert "<h3>Capacity chosen on this operator's rows</h3><p>Chosen: <b>" in english
    assert ">night owl<" in english and ">夜猫子<" in chinese and ">生命周期<" in chinese


def test_value_tiers_hold_out(contagion_on: Path) -> None:
    """Predicted revenue per tier against what the next months really brought."""
    con = duckdb.connect(str(contagion_on), read_only=True)
    cutoffs = available_cutoffs(con)
    cutoff = cutoffs[-3]  # three months after it are in the data
    from insight.value import current_value

    value = current_value(con, cutoff)
    value["churn_risk"] = 0.02
    value["value_tier"] = value_tiers(value["monthly_revenue"])
    table = revenue_holdout(con, cutoff, value, months=2).set_index("value_tier")
    con.close()
    print("\n" + table.round(2).to_string())
    per_sub = table["realised"] / table["subscribers"]
    order = ["platinum", "gold", "silver", "bronze", "basic"]
    assert per_sub.reindex(order).is_monotonic_decreasing
    total = table[["predicted", "realised"]].sum()
    assert abs(total["realised"] / total["predicted"] - 1) < 0.25
