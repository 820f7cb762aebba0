"""Tag rules on hand-made warehouses: the seed's two examples, refusals, provenance."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from graph.knowledge import open_knowledge_graph
from insight.tags import (
    RuleError,
    apply_tags,
    compile_tags,
    library_from_turtle,
    library_to_turtle,
    parse_library,
    starter_library,
    write_tag_tables,
    write_tag_triples,
)
from ontology import customer_iri, tag_iri, tag_rule_iri

HOTLINE = "+8610961036"
CAMPUS = ["+8610627510001", "+8610627510002"]
APRIL = date(2026, 4, 1)

SEED_RULES = {
    "name": "seed",
    "features": {
        "often_calls_traffic_hotline": {
            "label": "often calls the traffic radio hotline", "measure": "calls_to",
            "numbers": [HOTLINE], "months": 1, "op": ">=", "value": 3},
        "often_active_on_campus": {
            "measure": "contact_days", "numbers": CAMPUS, "months": 1, "op": ">=", "value": 3},
        "joined_campus_card_campaign": {
            "measure": "accepted_offers", "campaigns": ["CAMPUS-CARD"], "months": 12,
            "op": ">=", "value": 1},
    },
    "tags": {
        "traffic_radio_listener": {"when": "often_calls_traffic_hotline", "scheme": "interest"},
        "student": {"when": "often_active_on_campus and joined_campus_card_campaign",
                    "label": "student", "scheme": "demographics"},
        "not_student": {"when": "not student"},
    },
}


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (customer_id VARCHAR, customer_type VARCHAR, "
                "gender VARCHAR, birth_date DATE, region VARCHAR, join_date DATE, "
                "do_not_contact BOOLEAN)")
    con.execute("CREATE TABLE subscriptions (subscription_id VARCHAR, customer_id VARCHAR, "
                "msisdn VARCHAR, product_id VARCHAR, status VARCHAR, start_date DATE, "
                "end_date DATE)")
    con.execute("CREATE TABLE cdrs (record_id VARCHAR, caller VARCHAR, callee VARCHAR, "
                "start_time TIMESTAMP, duration_s BIGINT, event_type VARCHAR, roaming BOOLEAN)")
    con.execute("CREATE TABLE campaign_contacts (contact_id VARCHAR, campaign_id VARCHAR, "
                "customer_id VARCHAR, msisdn VARCHAR, channel VARCHAR, contacted_at TIMESTAMP, "
                "contact_group VARCHAR)")
    con.execute("CREATE TABLE campaign_responses (response_id VARCHAR, contact_id VARCHAR, "
                "responded_at TIMESTAMP, response VARCHAR, revenue DOUBLE)")
    people = {"A": "+8613800000001", "B": "+8613800000002", "C": "+8613800000003",
              "D": "+8613800000004"}
    for cid, msisdn in people.items():
        con.execute("INSERT INTO customers VALUES (?, 'individual', 'F', DATE '2004-05-01', "
                    "'Beijing', DATE '2024-09-01', false)", [cid])
        con.execute("INSERT INTO subscriptions VALUES (?, ?, ?, 'P1', 'active', "
                    "DATE '2024-09-01', NULL)", [f"S{cid}", cid, msisdn])
    calls = [
        # A: 3 hotline calls in April (fires), B: 2 in April + 2 in March (does not)
        *[("A", HOTLINE, f"2026-04-0{d} 08:00:00") for d in (1, 2, 3)],
        *[("B", HOTLINE, f"2026-04-0{d} 08:00:00") for d in (1, 2)],
        *[("B", HOTLINE, f"2026-03-1{d} 08:00:00") for d in (1, 2)],
        # C: campus on 3 days of April (two calls on day 5 count once), and joined the card
        ("C", CAMPUS[0], "2026-04-05 09:00:00"), ("C", CAMPUS[1], "2026-04-05 12:00:00"),
        ("C", CAMPUS[0], "2026-04-06 09:00:00"),
        # D: campus 3 days too but did not join the campaign (declined)
        *[("D", CAMPUS[1], f"2026-04-1{d} 09:00:00") for d in (1, 2, 3)],
    ]
    for i, (who, callee, when) in enumerate(calls):
        con.execute("INSERT INTO cdrs VALUES (?, ?, ?, ?, 60, 'voice', false)",
                    [f"R{i}", people[who], callee, when])
    # an incoming call from campus counts for C's third day
    con.execute("INSERT INTO cdrs VALUES ('R99', ?, ?, TIMESTAMP '2026-04-20 10:00:00', 30, "
                "'voice', false)", [CAMPUS[0], people["C"]])
    con.execute("INSERT INTO campaign_contacts VALUES ('K1', 'CAMPUS-CARD', 'C', NULL, 'app', "
                "TIMESTAMP '2026-02-01 10:00:00', 'treatment'), ('K2', 'CAMPUS-CARD', 'D', "
                "NULL, 'app', TIMESTAMP '2026-02-01 10:00:00', 'treatment')")
    con.execute("INSERT INTO campaign_responses VALUES ('Q1', 'K1', "
                "TIMESTAMP '2026-02-03 10:00:00', 'accepted', 10), ('Q2', 'K2', "
                "TIMESTAMP '2026-02-03 10:00:00', 'declined', NULL)")
    return con


def _tagged(result, tag: str) -> set[str]:
    return set(result.assignments.loc[result.assignments["tag_id"] == tag, "customer_id"])


def test_seed_examples_on_hand_made_data(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    library = parse_library(SEED_RULES)
    result = apply_tags(con, library, APRIL, run_id="r1")
    assert _tagged(result, "traffic_radio_listener") == {"A"}
    assert _tagged(result, "student") == {"C"}
    assert _tagged(result, "not_student") == {"A", "B", "D"}
    # the window is the period: March's calls do not make B a listener; in March they do not
    # reach 3 either, and A's April calls do not count for March
    march = apply_tags(con, library, date(2026, 3, 1))
    assert _tagged(march, "traffic_radio_listener") == set()
    ev = result.evidence.set_index(["customer_id", "tag_id", "feature"])
    assert ev.loc[("A", "traffic_radio_listener", "often_calls_traffic_hotline"),
                  "value_number"] == 3
    assert ev.loc[("C", "student", "often_active_on_campus"), "value_number"] == 3
    assert bool(ev.loc[("C", "student", "joined_campus_card_campaign"), "fired"])


def test_values_are_parameters_not_sql(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    rules = {"features": {"odd": {"measure": "region", "op": "==",
                                  "value": "x'; DROP TABLE customers; --"}},
             "tags": {"odd_region": "odd"}}
    compiled = compile_tags(parse_library(rules), APRIL, con)
    assert "DROP TABLE" not in compiled.sql
    assert apply_tags(con, parse_library(rules), APRIL).counts == {"odd_region": 0}
    assert con.execute("SELECT count(*) FROM customers").fetchall()[0][0] == 4


@pytest.mark.parametrize(("rules", "message"), [
    ({"features": {}, "tags": {"student": "on_campus and joined"}},
     "tag 'student': unknown feature 'on_campus'"),
    ({"features": {"f": {"measure": "gender", "op": ">=", "value": 3}}, "tags": {"t": "f"}},
     "business feature 'f': type mismatch: gender is a category"),
    ({"features": {"f": {"measure": "calls_out", "op": ">=", "value": "many"}},
      "tags": {"t": "f"}},
     "business feature 'f': type mismatch: calls_out is a number"),
    ({"features": {}, "tags": {"t": "churn_risk and t"}},
     "tag 't': type mismatch: 'churn_risk' is a number measure"),
    ({"features": {"f": {"measure": "calls_out", "op": ">", "value": 1}},
      "tags": {"a": "f and b", "b": "c or f", "c": "not a"}},
     "tag 'a': cycle a → b → c → a"),
    ({"features": {"f": {"measure": "no_such", "op": ">", "value": 1}}, "tags": {}},
     "business feature 'f': unknown measure 'no_such'"),
    ({"features": {"f": {"measure": "calls_to", "numbers": ["12' OR 1=1"], "op": ">",
                         "value": 1}}, "tags": {}},
     "business feature 'f': \"12' OR 1=1\" is not an E.164 number"),
    ({"features": {"f": {"measure": "calls_out", "op": ">", "value": 1}},
      "tags": {"t": "f and (f or"}},
     "tag 't': expected a feature or tag name"),
])
def test_invalid_rules_are_refused_naming_the_rule(rules: dict, message: str) -> None:
    with pytest.raises(RuleError) as error:
        parse_library(rules)
    assert message in str(error.value)


def test_missing_table_is_named(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    rules = {"features": {"risky": {"measure": "churn_risk", "op": ">=", "value": 0.5}},
             "tags": {"at_risk": "risky"}}
    with pytest.raises(RuleError, match="'risky': the warehouse has no customer_value"):
        apply_tags(con, parse_library(rules), APRIL)


def test_versions_and_turtle_round_trip() -> None:
    library = parse_library(SEED_RULES)
    same = library.with_tag(library.tags["student"])
    assert same.tags["student"].version == 1
    changed = library.with_tag(type(library.tags["student"])(
        "student", "often_active_on_campus", label="student", scheme="demographics"))
    assert changed.tags["student"].rule_id == "student.v2"
    assert changed.version == library.version + 1
    back = library_from_turtle(library_to_turtle(changed))
    assert back.tags["student"].expression == "often_active_on_campus"
    assert back.tags["student"].version == 2
    assert back.features == changed.features
    starter = starter_library()
    assert 18 <= len(starter.tags) <= 25
    assert {t.scheme for t in starter.tags.values()} >= {
        "revenue_contribution", "product_preference", "channel_preference",
        "service_preference", "lifecycle", "demographics", "network"}


def test_provenance_in_sql_and_sparql(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    library = parse_library(SEED_RULES)
    result = apply_tags(con, library, APRIL, run_id="tag-run-1")
    write_tag_tables(con, result)
    row = con.execute(
        "SELECT a.rule_id, a.rule_version, a.period, e.feature, e.value, e.fired "
        "FROM tag_assignments a JOIN tag_evidence e USING (cutoff, customer_id, tag_id) "
        "WHERE a.customer_id = 'A' AND a.tag_id = 'traffic_radio_listener'").fetchall()
    assert row == [("traffic_radio_listener.v1", 1, APRIL, "often_calls_traffic_hotline",
                    "3", True)]
    kg = tmp_path / "kg"
    assert write_tag_triples(kg, library, result) > 0
    graph = open_knowledge_graph(kg)
    rows = list(graph.query(f"""
        SELECT ?rule ?expr ?period ?feature ?value WHERE {{
          <{customer_iri('C')}> cc:hasTag ?tag .
          ?a rdf:subject <{customer_iri('C')}> ; rdf:predicate cc:hasTag ; rdf:object ?tag ;
             prov:wasDerivedFrom ?rule ; dcterms:temporal ?period ; prov:used ?e .
          ?rule a cc:TagRule ; cc:ruleExpression ?expr .
          ?e prov:wasDerivedFrom ?feature ; rdf:value ?value .
          FILTER(?tag = <{tag_iri('student')}>)
        }} ORDER BY ?feature"""))
    assert [str(r[0]) for r in rows] == [str(tag_rule_iri("student.v1"))] * 2
    assert str(rows[0][1]) == "often_active_on_campus and joined_campus_card_campaign"
    assert str(rows[0][2]) == "2026-04"
    assert [float(r[4]) for r in rows] == [1.0, 3.0]
    # re-tagging replaces, never accumulates
    write_tag_triples(kg, library, result)
    graph = open_knowledge_graph(kg)
    count = next(iter(graph.query("SELECT (COUNT(*) AS ?n) WHERE { ?c cc:hasTag ?t }")))[0]
    assert int(count) == len(result.assignments)
