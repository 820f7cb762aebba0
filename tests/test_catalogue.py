"""The feature catalogue declares every feature column once, and what is derived from it holds."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from graph.catalogue import (
    API_FEATURES,
    FEATURES,
    PREDICATES,
    dump_reasons,
    load_reasons,
    reason_features,
    reason_texts,
)
from graph.knowledge import build_knowledge_graph, open_knowledge_graph
from graph.stage import build_graph_stage
from ingest.aggregate import build_aggregates
from ingest.load import stage_sources
from ingest.synthetic import generate_operator
from insight.churn import PHRASES, describe_feature, reasons_in
from insight.features import ID_COLUMNS, LABEL, FeatureSet, available_cutoffs, churn_features
from ontology import CC, OWL, RDF, RDFS, load_ontology


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, date]:
    """A small generated operator with every table the feature tables read."""
    work = tmp_path_factory.mktemp("catalogue")
    generate_operator(work / "source", subscribers=300, months=4, seed=1, progress=False)
    path = work / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        stage_sources(con, work / "source", run_id="catalogue")
        build_aggregates(con)
        cutoff = available_cutoffs(con)[-1]
        build_graph_stage(con, cutoff=cutoff)
    finally:
        con.close()
    return path, cutoff


@pytest.fixture(scope="module")
def features(warehouse: tuple[Path, date]) -> FeatureSet:
    path, cutoff = warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        return churn_features(con, cutoff)


def test_every_feature_column_is_declared_in_its_group(
        warehouse: tuple[Path, date], features: FeatureSet) -> None:
    path, _ = warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        graph_columns = [row[0] for row in con.execute("DESCRIBE graph_features").fetchall()]
    assert {"behaviour", "graph"} <= set(features.groups)  # the fixture has every group
    identifiers = {*ID_COLUMNS, LABEL, "cutoff"}
    produced = [c for c in [*features.frame.columns, *graph_columns]
                if c not in identifiers and not c.endswith("_id")]
    assert [c for c in produced if c not in FEATURES] == []
    for group, columns in features.groups.items():
        assert [c for c in columns if FEATURES[c].group != group] == []
    assert all(FEATURES[c].model_input for c in features.features)


def test_declared_predicates_are_datatype_properties_of_numbers() -> None:
    from rdflib.namespace import XSD  # not a module global: pytest's collection probes those

    ontology = load_ontology()
    assert PREDICATES  # influence and churn exposure are stated in the knowledge graph
    for name, predicate in PREDICATES.items():
        assert (predicate, RDF.type, OWL.DatatypeProperty) in ontology, name
        assert ontology.value(predicate, RDFS.range) in {XSD.integer, XSD.double}, name
        domain = ontology.value(predicate, RDFS.domain)
        members = set(ontology.items(ontology.value(domain, OWL.unionOf))) if domain else set()
        assert CC.PhoneNumber in {domain, *members}, name


def test_circle_members_carry_the_declared_predicates(
        warehouse: tuple[Path, date], tmp_path: Path) -> None:
    path, cutoff = warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        build_knowledge_graph(con, tmp_path / "kg")
        expected = con.execute(f"""
            SELECT m.msisdn, m.pagerank, g.churned_neighbours, g.churn_activation
            FROM circle_members m JOIN graph_features g USING (cutoff, msisdn)
            WHERE cutoff = DATE '{cutoff}' ORDER BY m.pagerank DESC, m.msisdn LIMIT 5
            """).fetchall()
    graph = open_knowledge_graph(tmp_path / "kg")
    columns = ("pagerank", "churned_neighbours", "churn_activation")
    assert set(columns) == set(PREDICATES)
    for msisdn, *values in expected:
        node = f"<https://id.callcircle.dev/number/{msisdn.lstrip('+')}>"
        for column, value in zip(columns, values, strict=True):
            stated = [row[0].toPython() for row in graph.query(
                f"SELECT ?v WHERE {{ {node} <{PREDICATES[column]}> ?v }}")]
            assert stated == [pytest.approx(value)], (msisdn, column)


def test_phrases_and_api_fields_come_from_the_catalogue() -> None:
    from api.schema.circles import GraphFeatures

    assert set(PHRASES) == {f.name for f in FEATURES.values() if f.phrase}
    for name, phrase in PHRASES.items():  # each phrase reads a number or a category
        assert "{v" in phrase and describe_feature(name, 2.0) != describe_feature(name, None)
    assert describe_feature("churned_neighbours", 3) == "3 contacts have left"
    fields = [f.name for f in GraphFeatures.__strawberry_definition__.fields]
    assert fields == ["cutoff", "circle_id", *[f.name for f in API_FEATURES]]


def test_reasons_round_trip_through_the_stored_form() -> None:
    reasons = [{"feature": "arrears", "value": 120.4, "contribution": 0.7,
                "text": describe_feature("arrears", 120.4)},
               {"feature": "plan", "value": "P2", "contribution": 0.1,
                "text": describe_feature("plan", "P2")}]
    con = duckdb.connect()
    con.execute("CREATE TABLE churn_scores (cutoff DATE, subscription_id VARCHAR, "
                "customer_id VARCHAR, churn_risk DOUBLE, reasons VARCHAR)")
    con.execute("INSERT INTO churn_scores VALUES (DATE '2026-04-01', 'S1', 'C1', 0.4, ?), "
                "(DATE '2026-04-01', 'S2', 'C2', 0.1, NULL)", [dump_reasons(reasons)])
    cur = con.execute("SELECT * FROM churn_scores ORDER BY subscription_id")
    names = [d[0] for d in cur.description]
    one, none = (dict(zip(names, row, strict=True)) for row in cur.fetchall())
    assert load_reasons(one["reasons"]) == reasons
    assert reason_texts(one["reasons"]) == ["arrears of ¥120", "on plan P2"]
    assert reason_features(one["reasons"]) == ["arrears", "plan"]
    # what the API's ChurnRisk.reasons answers, in English and in Chinese
    assert reasons_in(one["reasons"]) == ["arrears of ¥120", "on plan P2"]
    assert reasons_in(one["reasons"], "zh-CN") == ["欠费¥120", "使用P2套餐"]
    assert reasons_in(none["reasons"]) == [] and reason_features(None) == []


def test_scores_of_the_older_layout_read_the_same_and_rescoring_migrates_them() -> None:
    """Rows written with reason_1..3 and reason_features beside the JSON keep their
    reasons; the next scoring run drops those columns and keeps the older cut-off."""
    from graph.warehouse import replace_cutoff_frame

    stored = dump_reasons([{"feature": "arrears", "value": 80.0, "contribution": 0.5,
                            "text": "arrears of ¥80"}])
    con = duckdb.connect()
    con.execute("""CREATE TABLE churn_scores AS SELECT DATE '2026-03-01' AS cutoff,
        'S1' AS subscription_id, 'C1' AS customer_id, 0.3 AS churn_risk,
        'arrears of ¥80' AS reason_1, NULL::VARCHAR AS reason_2, NULL::VARCHAR AS reason_3,
        'arrears' AS reason_features, ? AS reasons""", [stored])
    newer = pd.DataFrame({"cutoff": [date(2026, 4, 1)], "subscription_id": ["S1"],
                          "customer_id": ["C1"], "churn_risk": [0.2], "reasons": [stored]})
    replace_cutoff_frame(con, "churn_scores", date(2026, 4, 1), newer)
    cur = con.execute("SELECT * FROM churn_scores ORDER BY cutoff")
    names = [d[0] for d in cur.description]
    assert not [n for n in names if n.startswith("reason_")]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    assert [reasons_in(row["reasons"]) for row in rows] == [["arrears of ¥80"]] * 2
