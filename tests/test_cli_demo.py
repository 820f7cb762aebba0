"""The README's main command, end to end, as a real subprocess; then the analyst commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from test_insight_synthetic import _english_words

from graph.knowledge import open_knowledge_graph
from graph.snapshot import SnapshotStore
from insight.tags import starter_library
from ontology import CC

REPO = Path(__file__).parent.parent


def callcircle(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLCIRCLE_DATA": str(data_dir), "CALLCIRCLE_NO_PROGRESS": "1",
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    data_dir = root / "data"
    done = callcircle("demo", "--subscribers", "1500", "--months", "5",
                      "--source-dir", str(root / "source"), data_dir=data_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    return data_dir


@pytest.mark.slow
def test_demo_runs_the_whole_chain(demo: Path) -> None:
    store = SnapshotStore(demo)
    current = store.current()
    assert current is not None
    con = duckdb.connect(str(current.warehouse_path), read_only=True)
    try:
        tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
        subscriptions = con.execute("SELECT count(*) FROM subscriptions").fetchone()[0]
        scored = con.execute("SELECT count(DISTINCT msisdn) FROM churn_scores").fetchone()[0]
    finally:
        con.close()
    assert {"cdrs", "call_edges", "graph_features", "circles", "churn_scores",
            "customer_value", "segments", "tag_assignments"} <= tables
    assert 0 < scored <= subscriptions
    report = (demo / "report.html").read_text(encoding="utf-8")
    assert "<svg" in report and "http://" not in report.replace("http://www.w3.org", "")
    assert "Capacity chosen on this operator" in report
    # ingest, score and tags each published a snapshot, derived one from the other
    assert current.manifest.get("derived_from")
    # scores and tags were written back into the knowledge graph, queryable by SPARQL
    graph = open_knowledge_graph(current.knowledge_graph_path, read_only=True)
    (scored_in_kg,) = next(iter(graph.query(
        f"PREFIX cc: <{CC}> SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s cc:churnProbability ?p }}"
    )))
    (tagged_in_kg,) = next(iter(graph.query(
        f"PREFIX cc: <{CC}> SELECT (COUNT(*) AS ?n) WHERE {{ ?c cc:hasTag ?t }}")))
    assert int(scored_in_kg) > 0 and int(tagged_in_kg) > 0


@pytest.mark.slow
def test_analyst_commands_on_the_demo(demo: Path) -> None:
    runs = callcircle("runs", data_dir=demo)
    assert runs.returncode == 0 and "published" in runs.stderr
    campaigns = callcircle("campaigns", data_dir=demo)
    assert campaigns.returncode == 0 and "C2601" in campaigns.stderr
    kpis = callcircle("kpis", "churn_rate", "arpu", "--by", "month", data_dir=demo)
    assert kpis.returncode == 0 and "churn_rate" in kpis.stderr
    chinese = callcircle("kpis", "churn_rate", "arpu", "--by", "month", "--locale", "zh-CN",
                         data_dir=demo)
    assert chinese.returncode == 0 and "离网率" in chinese.stderr and "年" in chinese.stderr
    assert "churn_rate" not in chinese.stderr
    unknown = callcircle("kpis", "happiness", data_dir=demo)
    assert unknown.returncode == 2 and "unknown measure" in unknown.stderr
    bad_rules = demo.parent / "bad-rules.yaml"
    bad_rules.write_text(
        "name: broken\nversion: 1\nfeatures:\n"
        "  heavy: {label: heavy, measure: minutes_out, op: '>=', value: 300}\n"
        "tags:\n  heavy_user: {scheme: usage, label: heavy user, when: heavy and loud}\n",
        encoding="utf-8")
    refused = callcircle("tags", "--rules", str(bad_rules), data_dir=demo)
    assert refused.returncode == 2 and "rule refused" in refused.stderr
    assert "heavy_user" in refused.stderr and "loud" in refused.stderr


@pytest.mark.slow
def test_the_commands_read_in_chinese_on_the_demo(demo: Path) -> None:
    """Every table an analyst reads in zh-CN, on a real operator: no English word is left
    but identifiers (tag, snapshot and campaign ids), the operator's own values (channels,
    plans, regions as exported), acronyms (ARPU, AUC, PR, CV, ECE, MB) and names."""
    commands = [
        ("train",), ("score",), ("tags",), ("campaigns",),
        ("kpis", "churn_rate", "arpu", "active_customers", "--by", "value_tier", "--by",
         "segment"),
        ("kpis", "revenue", "new_customers", "--by", "month", "--by", "circle_size_band",
         "--grouping", "cube"),
        ("kpis", "churned_customers", "--by", "channel", "--by", "plan", "--by", "region"),
        ("report", "--out", str(demo.parent / "report-zh.html")),
    ]
    outputs = {}
    for command in commands:
        done = callcircle(*command, "--locale", "zh-CN", data_dir=demo)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[" ".join(command)] = done.stdout + done.stderr
    con = duckdb.connect(str(SnapshotStore(demo).current().warehouse_path), read_only=True)
    try:
        exported = {str(v) for (v,) in con.execute(
            "SELECT channel FROM interactions UNION SELECT channel FROM campaign_contacts "
            "UNION SELECT product_id FROM subscriptions UNION SELECT region FROM customers"
        ).fetchall() if v is not None}
    finally:
        con.close()
    identifiers = {*starter_library().tags, *exported}
    left = {name: words for name, text in outputs.items()
            if (words := _english_words(text, identifiers))}
    assert left == {}
    assert "按时间切分" in outputs["train"] and "含交往圈特征" in outputs["train"]
    assert "报告已写入" in outputs[commands[-1][0] + " " + " ".join(commands[-1][1:])]
    english = callcircle("kpis", "churn_rate", "--by", "segment", data_dir=demo)
    assert english.returncode == 0 and "unsegmented" in english.stderr + english.stdout
