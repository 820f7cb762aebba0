"""Tags, campaigns and KPIs through GraphQL, in-process (schema with these types merged in).

The test operator of ``api_fixtures`` is published, then edited through the mutations the
way the marketing team would: save rules (admin), tag, plan and execute a campaign
(analyst), record responses, evaluate, read KPIs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import strawberry
from strawberry.tools import merge_types

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import customer_id, write_snapshot  # noqa: E402

from api.auth import Principal, Role  # noqa: E402
from api.context import Context  # noqa: E402
from api.schema.campaigns import CampaignMutation, CampaignQuery  # noqa: E402
from api.schema.kpis import KpiQuery  # noqa: E402
from api.schema.query import Query  # noqa: E402
from api.schema.tags import TagMutation, TagQuery  # noqa: E402
from api.settings import Limits  # noqa: E402
from api.snapshots import OpenSnapshot  # noqa: E402
from graph.snapshot import SnapshotStore  # noqa: E402

LIBRARY = """
name: api-test
features:
  billed_40_plus: {measure: revenue, op: '>=', value: 40, months: 1}
  risky: {measure: churn_risk, op: '>=', value: 0.5}
  app_user: {measure: interactions, channels: [app], op: '>=', value: 1, months: 2}
  female: {measure: gender, op: '==', value: F}
tags:
  valuable: {when: billed_40_plus, scheme: revenue_contribution}
  at_risk_app_user: {when: risky and app_user, scheme: lifecycle}
  woman_at_risk: {when: female and at_risk_app_user, scheme: demographics}
"""

SCHEMA = strawberry.Schema(
    query=merge_types("Query", (Query, TagQuery, CampaignQuery, KpiQuery)),
    mutation=merge_types("Mutation", (TagMutation, CampaignMutation)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tags-api") / "data"
    write_snapshot(SnapshotStore(root), "tags-api")
    return root


def run(data_dir: Path, role: str, query: str, **variables: Any) -> dict[str, Any]:
    """Execute on the current snapshot as ``role``; returns data, raising on errors."""
    result = execute(data_dir, role, query, **variables)
    assert result.errors is None, result.errors
    return result.data


def execute(data_dir: Path, role: str, query: str, **variables: Any) -> Any:
    store = SnapshotStore(data_dir)
    snapshot = OpenSnapshot(store.current(), store)
    context = Context.create(Principal(f"user-{role}", Role(role), "api_key"), snapshot,
                             Limits())
    try:
        return asyncio.run(SCHEMA.execute(query, variable_values=variables,
                                          context_value=context))
    finally:
        snapshot.retire()


@pytest.fixture(scope="module")
def tagged(data_dir: Path) -> Iterator[Path]:
    saved = run(data_dir, "admin", """mutation($y: String!) { saveTagLibrary(yaml: $y) {
        version rules { tag ruleId } } }""", y=LIBRARY)["saveTagLibrary"]
    assert {r["ruleId"] for r in saved["rules"]} == {
        "valuable.v1", "at_risk_app_user.v1", "woman_at_risk.v1"}
    result = run(data_dir, "admin", "mutation { applyTags(period: \"2026-03-01\") "
                                    "{ snapshotId period assignments counts } }")["applyTags"]
    assert result["period"] == "2026-03-01"
    assert result["counts"]["valuable"] == 150  # March bills are 42
    yield data_dir


def test_customer_tags_with_provenance(tagged: Path) -> None:
    library = run(tagged, "analyst", "{ tagLibrary { version rules { tag customers features } "
                                     "} }")["tagLibrary"]
    counts = {r["tag"]: r["customers"] for r in library["rules"]}
    assert counts["valuable"] == 150
    assert 0 < counts["woman_at_risk"] < counts["at_risk_app_user"]
    woman = next(r for r in library["rules"] if r["tag"] == "woman_at_risk")
    assert woman["features"] == ["app_user", "female", "risky"]
    # customer 16: F (even), app contacts (16 % 3 = 1), risk 16·37 % 100 = 92 % → all three
    tags = run(tagged, "app", """query($c: String!) { customerTags(customerId: $c) {
        tag ruleId ruleVersion period expression evidence { feature value fired } } }""",
               c=customer_id(16))["customerTags"]
    by_tag = {t["tag"]: t for t in tags}
    assert set(by_tag) == {"valuable", "at_risk_app_user", "woman_at_risk"}
    assert by_tag["woman_at_risk"]["ruleId"] == "woman_at_risk.v1"
    assert by_tag["woman_at_risk"]["period"] == "2026-03-01"
    evidence = {e["feature"]: e for e in by_tag["woman_at_risk"]["evidence"]}
    assert evidence["female"]["value"] == "F" and evidence["female"]["fired"]
    assert float(evidence["risky"]["value"]) == pytest.approx(0.921)


def test_rule_edits_are_admin_only_and_validated(tagged: Path) -> None:
    refused = execute(tagged, "analyst", 'mutation { saveTagRule(tag: "x", expression: '
                                         '"risky") { version } }')
    assert "needs the admin role" in refused.errors[0].message
    bad = execute(tagged, "admin", 'mutation { saveTagRule(tag: "loop", expression: '
                                   '"risky and loop") { version } }')
    assert "tag 'loop': cycle loop → loop" in bad.errors[0].message
    unknown = execute(tagged, "admin", 'mutation { saveTagRule(tag: "y", expression: '
                                       '"risky and nope") { version } }')
    assert "tag 'y': unknown feature 'nope'" in unknown.errors[0].message
    mismatch = execute(tagged, "admin", """mutation { saveBusinessFeature(name: "odd",
        definition: {measure: "gender", op: ">=", value: 2}) { version } }""")
    assert "business feature 'odd': type mismatch" in mismatch.errors[0].message
    changed = run(tagged, "admin", 'mutation { saveTagRule(tag: "valuable", expression: '
                                   '"billed_40_plus and not risky", scheme: '
                                   '"revenue_contribution") { version rules { tag ruleId } } }'
                  )["saveTagRule"]
    assert {r["tag"]: r["ruleId"] for r in changed["rules"]}["valuable"] == "valuable.v2"


def test_campaign_loop_and_kpis(tagged: Path) -> None:
    plan = run(tagged, "analyst", """mutation($c: CampaignInput!) {
        planCampaign(campaign: $c, execute: true, asOf: "2026-04-01") {
          snapshotId targets treatment control executed } }""", c={
        "campaignId": "Q2-SAVE", "name": "keep risky app users", "channels": ["app", "sms"],
        "costPerContact": 1.5, "controlShare": 0.3, "seed": 7,
        "target": {"tags": ["at_risk_app_user"], "excludeContactedDays": None}})["planCampaign"]
    assert plan["targets"] == plan["treatment"] + plan["control"] > 10
    assert plan["control"] > 0 and plan["executed"]
    refused = execute(tagged, "app", 'mutation { planCampaign(campaign: {campaignId: "x", '
                                     'name: "x"}) { targets } }')
    assert "needs the analyst or admin role" in refused.errors[0].message
    # every treated contact of an even customer accepts, paying 10
    contacts = _contacts(tagged, "Q2-SAVE")
    accepted = [c for c, group in contacts if group == "treatment" and int(c[-1]) % 2 == 0]
    recorded = run(tagged, "analyst", """mutation($r: [ResponseInput!]!) {
        recordCampaignResponses(responses: $r) { recorded } }""",
                   r=[{"contactId": c, "response": "accepted", "revenue": 10}
                      for c in accepted])["recordCampaignResponses"]
    assert recorded["recorded"] == len(accepted)
    evaluation = run(tagged, "analyst", """{ campaignEvaluation(campaignId: "Q2-SAVE") {
        method overall { treated control treatedResponseRate controlResponseRate
        responseUplift upliftLow upliftHigh cost incrementalRevenue }
        byChannel { group treated } } }""")["campaignEvaluation"]
    overall = evaluation["overall"]
    assert overall["treated"] == plan["treatment"] and overall["control"] == plan["control"]
    assert overall["treatedResponseRate"] == pytest.approx(len(accepted) / plan["treatment"])
    assert overall["controlResponseRate"] == 0
    assert overall["upliftLow"] < overall["responseUplift"] < overall["upliftHigh"]
    assert overall["cost"] == pytest.approx(1.5 * plan["treatment"])
    assert overall["incrementalRevenue"] == pytest.approx(10 * len(accepted))
    assert sum(c["treated"] for c in evaluation["byChannel"]) == plan["treatment"]
    assert "Newcombe" in evaluation["method"]
    kpis = run(tagged, "analyst", """{ kpis(measures: [ACTIVE_CUSTOMERS, REVENUE, ARPU],
        by: [MONTH, REGION], filter: [{dimension: MONTH, values: ["2026-03"]}]) {
        dimensions { dimension value } rolledUp measures { measure value } } }""")["kpis"]
    total = next(r for r in kpis if r["rolledUp"] == ["month", "region"])
    values = {m["measure"]: m["value"] for m in total["measures"]}
    assert values["active_customers"] == 150
    assert values["revenue"] == pytest.approx(150 * 42.0)
    regions = [r for r in kpis if not r["rolledUp"]]
    assert len(regions) == 3
    assert sum(next(m["value"] for m in r["measures"] if m["measure"] == "revenue")
               for r in regions) == pytest.approx(150 * 42.0)
    denied = execute(tagged, "app", "{ kpis(measures: [REVENUE]) { rolledUp } }")
    assert "KPIs needs the analyst or admin role" in denied.errors[0].message


def _contacts(data_dir: Path, campaign_id: str) -> list[tuple[str, str]]:
    import duckdb

    snapshot = SnapshotStore(data_dir).current()
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        return [(c, g) for c, g in con.execute(
            "SELECT contact_id, contact_group FROM campaign_executed_contacts "
            "WHERE campaign_id = ? ORDER BY contact_id", [campaign_id]).fetchall()]
    finally:
        con.close()
