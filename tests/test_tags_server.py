"""Tags, campaigns and KPIs through the real GraphQL server (uvicorn, API keys)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import (  # noqa: E402
    Server,
    customer_id,
    data,
    gql,
    start_server,
    stop_server,
    write_config,
    write_snapshot,
)

from graph.snapshot import SnapshotStore  # noqa: E402

LIBRARY = """
name: server-test
features:
  risky: {measure: churn_risk, op: '>=', value: 0.5}
  app_user: {measure: interactions, channels: [app], op: '>=', value: 1, months: 2}
tags:
  at_risk_app_user: {when: risky and app_user, scheme: lifecycle}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("tags-server")
    write_snapshot(SnapshotStore(root / "data"), "tags-server")
    server = start_server(root / "data", write_config(root / "api.yaml"), root / "server.log")
    yield server
    stop_server(server)


def _serving(client: httpx.Client, snapshot_id: str) -> None:
    """Wait until the server answers from ``snapshot_id`` (it polls ``CURRENT``)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if data(client, "{ snapshot { id } }")["snapshot"]["id"] == snapshot_id:
            return
        time.sleep(0.1)
    raise AssertionError(f"server never switched to {snapshot_id}")


def test_tag_campaign_and_kpis_over_http(server: Server) -> None:
    with server.client("admin") as admin, server.client("analyst") as analyst, \
            server.client("app") as app:
        refused = gql(analyst, "mutation($y: String!) { saveTagLibrary(yaml: $y) { version } }",
                      y=LIBRARY)
        assert "needs the admin role" in refused["errors"][0]["message"]
        bad = gql(admin, "mutation($y: String!) { saveTagLibrary(yaml: $y) { version } }",
                  y=LIBRARY.replace("risky and app_user", "risky and at_risk_app_user"))
        assert "tag 'at_risk_app_user': cycle" in bad["errors"][0]["message"]
        data(admin, "mutation($y: String!) { saveTagLibrary(yaml: $y) { version } }",
             y=LIBRARY)
        tagged = data(admin, 'mutation { applyTags(period: "2026-03-01") '
                             '{ snapshotId counts } }')["applyTags"]
        assert tagged["counts"]["at_risk_app_user"] > 0
        _serving(app, tagged["snapshotId"])
        tags = data(app, """query($c: String!) { customerTags(customerId: $c) {
            tag ruleId period evidence { feature value fired } } }""",
                    c=customer_id(16))["customerTags"]
        assert [(t["tag"], t["ruleId"], t["period"]) for t in tags] == [
            ("at_risk_app_user", "at_risk_app_user.v1", "2026-03-01")]
        assert {e["feature"] for e in tags[0]["evidence"] if e["fired"]} == {
            "risky", "app_user"}

        plan = data(analyst, """mutation($c: CampaignInput!) { planCampaign(campaign: $c,
            execute: true, asOf: "2026-04-01") { snapshotId targets treatment control } }""",
                    c={"campaignId": "HTTP-1", "name": "over http", "controlShare": 0.25,
                       "target": {"tags": ["at_risk_app_user"]}})["planCampaign"]
        assert plan["targets"] == tagged["counts"]["at_risk_app_user"] - _dnc(server)
        _serving(analyst, plan["snapshotId"])
        evaluation = data(analyst, """{ campaignEvaluation(campaignId: "HTTP-1") {
            overall { treated control responseUplift } } }""")["campaignEvaluation"]
        assert evaluation["overall"]["treated"] == plan["treatment"]
        assert evaluation["overall"]["control"] == plan["control"]

        kpis = data(analyst, """{ kpis(measures: [ACTIVE_CUSTOMERS, CHURN_RATE],
            by: [MONTH], grouping: PLAIN) { dimensions { value } measures { value } } }""")
        assert [r["dimensions"][0]["value"] for r in kpis["kpis"]] == [
            "2026-01", "2026-02", "2026-03"]
        denied = gql(app, "{ kpis(measures: [REVENUE]) { rolledUp } }")
        assert "needs the analyst or admin role" in denied["errors"][0]["message"]


def _dnc(server: Server) -> int:
    """Customers holding the tag whom the campaign must not contact (do_not_contact)."""
    import duckdb

    snapshot = SnapshotStore(server.data_dir).current()
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM tag_assignments a JOIN customers c "
                           "USING (customer_id) WHERE a.tag_id = 'at_risk_app_user' "
                           "AND c.do_not_contact").fetchall()[0][0]
    finally:
        con.close()
