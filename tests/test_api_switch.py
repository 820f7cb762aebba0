"""Readiness and snapshot switching of a live server under a stream of requests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from graph.snapshot import SnapshotStore

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import KEYS, start_server, stop_server, write_config, write_snapshot  # noqa: E402

QUERY = """
{ snapshot { id manifest }
  customer(customerId: "C0005") {
    name subscriptions { msisdn product { name } } bills { arrears }
    topContacts(first: 3) { edges { node { number customer { name } } } }
  } }"""


def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_readyz_then_switch_during_a_stream_of_requests(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = start_server(data_dir, write_config(tmp_path / "api.yaml"), tmp_path / "server.log",
                          ready=False)
    headers = {"X-API-Key": KEYS["admin"]}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/readyz").status_code == 503
            before = client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert before.status_code == 503
            assert "no snapshot published" in before.json()["errors"][0]["message"]

            store = SnapshotStore(data_dir, keep=2)
            published = [write_snapshot(store, "run-0", variant=0)]
            _wait_for(lambda: client.get("/readyz").status_code == 200)
            assert client.get("/readyz").json()["snapshot"] == published[0].id

        outcomes: list[tuple[str, str]] = []
        failures: list[str] = []
        stop = threading.Event()

        def stream() -> None:
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
                while not stop.is_set():
                    try:
                        response = client.post("/graphql", json={"query": QUERY})
                        body = response.json()
                    except Exception as error:  # any failure counts
                        failures.append(repr(error))
                        continue
                    if response.status_code != 200 or "errors" in body:
                        failures.append(f"{response.status_code} {body}")
                        continue
                    variant = body["data"]["snapshot"]["manifest"]["variant"]
                    name = body["data"]["customer"]["name"]
                    # the whole answer comes from one snapshot
                    expected = "Zhang Wei 5" + (f" v{variant}" if variant else "")
                    if name != expected:
                        failures.append(f"mixed snapshots: {variant} {name}")
                    outcomes.append((body["data"]["snapshot"]["id"], name))

        threads = [threading.Thread(target=stream) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            for variant in (1, 2):
                time.sleep(0.4)
                published.append(write_snapshot(store, f"run-{variant}", variant=variant))
                target = published[-1].id
                _wait_for(lambda target=target: any(i == target for i, _ in outcomes[-8:]))
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

        assert not failures, failures[:5]
        seen = Counter(snapshot_id for snapshot_id, _ in outcomes)
        assert set(seen) == {snapshot.id for snapshot in published}, seen
        assert len(outcomes) > 50
        with httpx.Client(base_url=server.url, timeout=30) as client:
            metrics = client.get("/metrics").text
            assert "callcircle_snapshot_switches_total 3.0" in metrics
            assert client.get("/readyz").json()["snapshot"] == published[-1].id
        # older snapshots were pruned from disk while the server ran
        assert [s.id for s in store.published()] == [s.id for s in published[-2:]]
    finally:
        stop_server(server)
