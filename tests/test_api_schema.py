"""The schema in process (introspection switch, error masking, snapshot leases, settings),
and the app and middleware behind a uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import uvicorn
from api_fixtures import free_port

from api.auth import AuthError, Principal, Role, authenticate
from api.context import Context
from api.schema import build_schema
from api.serving import ensure_serving
from api.settings import Limits, Settings, key_digest
from api.snapshots import OpenSnapshot, SnapshotHolder
from api.sparql import classify
from graph.snapshot import SnapshotStore

ADMIN = Principal(subject="test", role=Role.ADMIN, method="api_key")


def _publish_minimal(store: SnapshotStore, run_id: str) -> None:
    """A snapshot with empty customer and line tables only."""
    building = store.begin(run_id)
    con = duckdb.connect(str(building.warehouse_path))
    con.execute("""
        CREATE TABLE customers (customer_id VARCHAR, customer_type VARCHAR, name VARCHAR,
            gender VARCHAR, birth_date DATE, id_number VARCHAR, address VARCHAR,
            region VARCHAR, join_date DATE, do_not_contact BOOLEAN);
        CREATE TABLE subscriptions (subscription_id VARCHAR, customer_id VARCHAR,
            msisdn VARCHAR, product_id VARCHAR, status VARCHAR, start_date DATE,
            end_date DATE)""")
    con.close()
    store.publish(building)


def _empty_snapshot(tmp_path: Path) -> SnapshotStore:
    store = SnapshotStore(tmp_path)
    _publish_minimal(store, "empty")
    return store


def test_introspection_can_be_disabled() -> None:
    query = "{ __schema { queryType { name } } }"
    assert build_schema().execute_sync(query).errors is None
    result = build_schema(introspection=False).execute_sync(query)
    assert result.errors and "introspection" in result.errors[0].message.lower()


def test_internal_errors_are_masked(tmp_path: Path) -> None:
    """A serving copy without the `customers` table makes DuckDB fail; no SQL is shown."""
    store = _empty_snapshot(tmp_path)
    current = store.current()
    assert current is not None
    broken = duckdb.connect(str(ensure_serving(current, store)))
    broken.execute("DROP TABLE customers")
    broken.close()
    snapshot = OpenSnapshot(current, store)
    try:
        context = Context.create(ADMIN, snapshot, Limits())
        result = asyncio.run(build_schema().execute(
            '{ customer(customerId: "C1") { name } }', context_value=context))
        assert result.errors is not None
        assert [e.message for e in result.errors] == ["Internal error; it has been logged."]
        assert "customers" not in str(result.errors[0].formatted)
    finally:
        snapshot.retire()


def test_leases_keep_a_retired_snapshot_open(tmp_path: Path) -> None:
    store = _empty_snapshot(tmp_path)
    holder = SnapshotHolder(tmp_path)
    assert holder.refresh() and holder.ready
    first = holder.lease()
    assert first is not None
    _publish_minimal(store, "second")
    assert holder.refresh()
    assert holder.current is not None and holder.current is not first
    assert not first.closed  # still leased by an in-flight request
    assert first.warehouse.execute("SELECT 42").fetchone() == (42,)
    first.release()
    assert first.closed
    assert not holder.refresh()  # CURRENT unchanged: no reopen
    holder.close()


def test_the_request_context_has_the_store_the_server_follows(tmp_path: Path) -> None:
    """Mutations publish and save rules into the data directory the holder follows."""
    _empty_snapshot(tmp_path)
    holder = SnapshotHolder(tmp_path)
    assert holder.refresh()
    snapshot = holder.lease()
    assert snapshot is not None
    try:
        context = Context.create(ADMIN, snapshot, Limits())
        assert context.store is holder.store and context.store.root == tmp_path
        result = asyncio.run(build_schema().execute(
            'mutation { saveTagRule(tag: "loyal", expression: "tenure_12_plus") { version } }',
            context_value=context))
        assert result.errors is None, result.errors
        assert [p.name for p in holder.store.rules_dir.iterdir()] == ["library-v2.yaml"]
    finally:
        snapshot.release()
        holder.close()


def test_settings_from_yaml_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "api.yaml"
    config.write_text(
        "api_keys:\n  - {name: crm, key_sha256: " + key_digest("k1") + ", role: analyst}\n"
        "limits: {max_page_size: 50}\nintrospection: false\n", encoding="utf-8")
    settings = Settings.load(config, data_dir=tmp_path, environ={})
    assert settings.limits.max_page_size == 50 and not settings.introspection
    assert authenticate("k1", None, settings) == Principal("crm", Role.ANALYST, "api_key")
    settings = Settings.load(config, data_dir=tmp_path, environ={
        "CALLCIRCLE_API_KEYS": "ops:admin:k2", "CALLCIRCLE_INTROSPECTION": "true"})
    assert settings.introspection
    assert authenticate("k2", None, settings).role is Role.ADMIN  # type: ignore[union-attr]
    with pytest.raises(AuthError):
        authenticate("k1", None, settings)
    assert authenticate(None, None, settings) is None
    with pytest.raises(ValueError, match="unknown settings"):
        Settings.from_mapping({"introspektion": True})


@pytest.mark.parametrize(("text", "kind"), [
    ("SELECT * WHERE { ?s ?p ?o }", "query"),
    ("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", "query"),
    ("# SELECT\nINSERT DATA { <urn:a> <urn:b> <urn:c> }", "update"),
    ("WITH <urn:g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", "update"),
    ("LOAD <http://example.org/x>", "update"),
])
def test_sparql_operation_type_is_parsed(text: str, kind: str) -> None:
    assert classify(text) == kind


@contextmanager
def uvicorn_on_loopback(app: Any) -> Iterator[str]:
    """``app`` served by a real uvicorn server on 127.0.0.1, in a thread; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_graphiql_page_only_when_enabled(tmp_path: Path) -> None:
    from api.app import create_app

    html = {"accept": "text/html"}
    with uvicorn_on_loopback(create_app(Settings(data_dir=tmp_path, graphiql=True))) as url:
        page = httpx.get(f"{url}/graphql", headers=html)
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert httpx.post(f"{url}/graphql", json={"query": "{ __typename }"}
                          ).status_code == 401
    with uvicorn_on_loopback(create_app(Settings(data_dir=tmp_path))) as url:
        assert httpx.get(f"{url}/graphql", headers=html).status_code == 401


def test_slow_requests_time_out_with_504() -> None:
    from api.metrics import Metrics
    from api.middleware import TimeoutMiddleware

    async def slow_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await asyncio.sleep(5)

    app = TimeoutMiddleware(slow_app, timeout_s=0.2, metrics=Metrics())
    with uvicorn_on_loopback(app) as url:
        response = httpx.post(f"{url}/graphql", json={}, timeout=10)
    assert response.status_code == 504  # the app itself never answers
    assert "longer than 0.2 s" in response.json()["errors"][0]["message"]


def test_stage_fields_are_null_on_a_snapshot_without_them(tmp_path: Path) -> None:
    """Before the graph and insight stages run, their fields are null or empty."""
    store = SnapshotStore(tmp_path)
    building = store.begin("bare")
    con = duckdb.connect(str(building.warehouse_path))
    con.execute("""
        CREATE TABLE customers AS SELECT 'C1' AS customer_id, 'individual' AS customer_type,
            'Li Na' AS name, 'F' AS gender, NULL::DATE AS birth_date,
            NULL::VARCHAR AS id_number, NULL::VARCHAR AS address, 'Beijing' AS region,
            DATE '2020-01-01' AS join_date, false AS do_not_contact;
        CREATE TABLE subscriptions AS SELECT 'S1' AS subscription_id, 'C1' AS customer_id,
            '+8613800000001' AS msisdn, 'P1' AS product_id, 'active' AS status,
            DATE '2020-01-01' AS start_date, NULL::DATE AS end_date""")
    con.close()
    current = store.publish(building)
    snapshot = OpenSnapshot(current, store)
    try:
        context = Context.create(ADMIN, snapshot, Limits())
        result = asyncio.run(build_schema().execute("""{
            customer(customerId: "C1") {
                name churnRisk { probability } value { clv } segment { profile }
                graphFeatures { degree } tags
                circle { size } bills { arrears } channelHistory { channel }
                topContacts { totalCount edges { cursor } }
                subscriptions { msisdn product { name } churnRisk { probability } }
            }
            churnRisks { edges { cursor } } segments { profile }
            circles { edges { cursor } } circle(circleId: "1") { size }
            customers(filter: {tier: ["top"]}) { totalCount }
            prospects { edges { cursor } }
        }""", context_value=context))
        assert result.errors is None, result.errors
        assert result.data == {
            "customer": {
                "name": "Li Na", "churnRisk": None, "value": None, "segment": None,
                "graphFeatures": None, "tags": [],
                "circle": None, "bills": None, "channelHistory": [],
                "topContacts": {"totalCount": 0, "edges": []},
                "subscriptions": [{"msisdn": "+8613800000001", "product": None,
                                   "churnRisk": None}],
            },
            "churnRisks": {"edges": []}, "segments": [], "circles": {"edges": []},
            "circle": None, "customers": {"totalCount": 0}, "prospects": {"edges": []},
        }
    finally:
        snapshot.retire()


def test_stale_serving_copies_are_removed(tmp_path: Path) -> None:
    from api.serving import LAYOUT_VERSION, remove_stale, serving_path

    folder = tmp_path / "serving"
    folder.mkdir()
    store = SnapshotStore(tmp_path)
    current = serving_path(store, "s2")
    for name in ("s1.v1.duckdb", f"s1.v{LAYOUT_VERSION}.duckdb", "s2.v1.duckdb", current.name):
        (folder / name).write_bytes(b"")
    remove_stale(store, ["s2"])
    assert [p.name for p in folder.iterdir()] == [current.name]
