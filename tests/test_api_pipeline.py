"""The API over a snapshot built by the real pipeline (synthetic operator → ingest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from graph.snapshot import SnapshotStore

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import (  # noqa: E402
    Server,
    data,
    serve_synthetic_operator,
    stop_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve_synthetic_operator(tmp_path_factory.mktemp("api-pipeline"),
                                      subscribers=200, seed=3)
    yield server
    stop_server(server)


def _a_line(data_dir: Path) -> tuple[str, str]:
    snapshot = SnapshotStore(data_dir).current()
    assert snapshot is not None
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        row = con.execute(
            "SELECT s.customer_id, s.msisdn FROM subscriptions s "
            "JOIN call_edges e ON e.a = s.msisdn WHERE s.status = 'active' "
            "ORDER BY s.customer_id LIMIT 1").fetchone()
    finally:
        con.close()
    assert row is not None
    return row[0], row[1]


def test_customer_360_over_an_ingested_snapshot(pipeline_server: Server) -> None:
    customer_id, msisdn = _a_line(pipeline_server.data_dir)
    query = """query($n: String!) { customer(msisdn: $n) {
        customerId name subscriptions { msisdn product { name } } plans { name }
        channelHistory { channel } bills { months arrears }
        topContacts(first: 3) { totalCount edges { node { number onNet weight } } }
        circle { circleId size } } }"""
    with pipeline_server.client("app") as client:
        customer = data(client, query, n=msisdn)["customer"]
        listed = data(client, "{ customers(first: 50) { totalCount edges { node { name } } } }")
    assert customer["customerId"] == customer_id
    assert msisdn in [s["msisdn"] for s in customer["subscriptions"]]  # app: its own customer
    assert customer["topContacts"]["totalCount"] >= 1
    weights = [e["node"]["weight"] for e in customer["topContacts"]["edges"]]
    assert weights == sorted(weights, reverse=True)
    assert listed["customers"]["totalCount"] > 50
    assert all(e["node"]["name"].endswith("***") for e in listed["customers"]["edges"])


def test_circles_and_sparql_over_an_ingested_snapshot(pipeline_server: Server) -> None:
    with pipeline_server.client("analyst") as client:
        circles = data(client, "{ circles(first: 3) { edges { node { circleId size "
                               "members(first: 2) { totalCount } } } } }")["circles"]
        response = client.get("/sparql", params={
            "query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"})
    sizes = [e["node"]["size"] for e in circles["edges"]]
    assert sizes == sorted(sizes, reverse=True)
    assert all(e["node"]["members"]["totalCount"] >= 1 for e in circles["edges"])
    assert response.status_code == 200, response.text
    assert int(response.json()["results"]["bindings"][0]["n"]["value"]) > 0
