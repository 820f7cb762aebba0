"""The schema in process: introspection switch, error masking, snapshot leases, settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb
import pytest

from api.auth import AuthError, Principal, Role, authenticate
from api.context import Context
from api.schema import build_schema
from api.settings import Limits, Settings, key_digest
from api.snapshots import OpenSnapshot, SnapshotHolder
from api.sparql import classify
from graph.snapshot import SnapshotStore

ADMIN = Principal(subject="test", role=Role.ADMIN, method="api_key")


def _empty_snapshot(tmp_path: Path) -> SnapshotStore:
    store = SnapshotStore(tmp_path)
    building = store.begin("empty")
    duckdb.connect(str(building.warehouse_path)).close()
    store.publish(building)
    return store


def test_introspection_can_be_disabled() -> None:
    query = "{ __schema { queryType { name } } }"
    assert build_schema().execute_sync(query).errors is None
    result = build_schema(introspection=False).execute_sync(query)
    assert result.errors and "introspection" in result.errors[0].message.lower()


def test_internal_errors_are_masked(tmp_path: Path) -> None:
    """A warehouse without the `customers` table makes DuckDB fail; the client sees no SQL."""
    store = _empty_snapshot(tmp_path)
    current = store.current()
    assert current is not None
    snapshot = OpenSnapshot(current)
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
    building = store.begin("second")
    duckdb.connect(str(building.warehouse_path)).close()
    store.publish(building)
    assert holder.refresh()
    assert holder.current is not None and holder.current is not first
    assert not first.closed  # still leased by an in-flight request
    assert first.warehouse.execute("SELECT 42").fetchone() == (42,)
    first.release()
    assert first.closed
    assert not holder.refresh()  # CURRENT unchanged: no reopen
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
