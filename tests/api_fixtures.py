"""Fixtures for the API tests: a hand-written snapshot and a real uvicorn process.

The snapshot's staged warehouse tables are written directly (as ingest would) into a
building snapshot and published through ``SnapshotStore``; the server is the real
``callcircle serve`` command on a free port of 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import jwt
import pandas as pd
import pyoxigraph as ox
import pytest
import yaml

from graph.catalogue import dump_reasons
from graph.snapshot import Snapshot, SnapshotStore

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"app": "app-key-123", "analyst": "analyst-key-456", "admin": "admin-key-789"}
JWT_SECRET = "test-secret-for-hs256-tokens-0123456789"
JWT_ISSUER = "callcircle-tests"
N_CUSTOMERS = 150
REGIONS = ("Beijing", "Shanghai", "Guangzhou")


def msisdn(i: int) -> str:
    return f"+86138{i:08d}"


def offnet(i: int, k: int) -> str:
    return f"+86186{i:05d}{k:03d}"


def customer_id(i: int) -> str:
    return f"C{i:04d}"


def _tables(variant: int) -> dict[str, pd.DataFrame]:
    """Staged tables of a small operator; ``variant`` changes names so snapshots differ."""
    customers, subs, bills, inter, edges, numbers = [], [], [], [], [], []
    products = pd.DataFrame([
        ("P1", "Basic 38", "plan", "prepaid", 38.0, 300, 100, 2048, 0.15, 0.05),
        ("P2", "Family 88", "plan", "postpaid", 88.0, 1000, 300, 10240, 0.1, 0.03),
        ("P3", "Business 188", "plan", "postpaid", 188.0, 3000, 1000, 40960, 0.1, 0.02),
    ], columns=["product_id", "name", "product_type", "payment_type", "monthly_fee",
                "included_minutes", "included_sms", "included_data_mb", "price_per_minute",
                "price_per_mb"])
    types = ["individual"] * 8 + ["enterprise", "group"]
    for i in range(1, N_CUSTOMERS + 1):
        ctype = types[i % 10]
        customers.append((customer_id(i), ctype, f"Zhang Wei {i}" + ("" if variant == 0 else
                          f" v{variant}"), "M" if i % 2 else "F", dt.date(1980 + i % 30, 1, 1),
                          f"11010119800101{i:04d}", f"{i} Chang'an Avenue",
                          REGIONS[i % 3], dt.date(2020, 1, 1) + dt.timedelta(days=i),
                          i % 17 == 0))
        product = ("P1", "P2", "P3")[i % 3]
        subs.append((f"S{i:04d}", customer_id(i), msisdn(i), product, "active",
                     dt.date(2021, 1, 1), None))
        numbers.append((msisdn(i), True, "China Mobile", f"S{i:04d}", customer_id(i)))
        if i % 10 == 1:  # a second, terminated line
            j = 1000 + i
            subs.append((f"S{j:04d}", customer_id(i), msisdn(j), "P1", "terminated",
                         dt.date(2020, 6, 1), dt.date(2021, 6, 1)))
            numbers.append((msisdn(j), True, "China Mobile", f"S{j:04d}", customer_id(i)))
        for m, period in enumerate((dt.date(2026, 1, 1), dt.date(2026, 2, 1),
                                    dt.date(2026, 3, 1))):
            arrears = 50.0 if (i % 5 == 0 and m == 2) else 0.0
            bills.append((f"B{i:04d}{m}", f"S{i:04d}", period, period + dt.timedelta(days=4),
                          period + dt.timedelta(days=20), 38.0, 1.0 * m, 0.0, 2.0, 0.0, 0.0,
                          40.0 + m, arrears))
        for k, channel in enumerate(("call_centre", "app", "store")[: 1 + i % 3]):
            for n in range(2):
                inter.append((f"I{i:04d}{k}{n}", customer_id(i), msisdn(i), channel,
                              dt.datetime(2026, 2, 1 + n, 10 + k), ("enquiry", "complaint")[n],
                              "resolved"))
    # calls: a ring on-net (i talks to i+1..i+3), two off-net numbers each; customer 1
    # gets twelve contacts with distinct weights for paging.
    def edge(a: str, b: str, calls: int, month: dt.date) -> tuple[Any, ...]:
        lo, hi = sorted((a, b))
        return (month, lo, hi, calls, 1, calls * 60, 60, 1, 0, 0, 0,
                dt.datetime(month.year, month.month, 2), dt.datetime(month.year, month.month, 20))

    pairs: dict[tuple[str, str], int] = {}
    for i in range(1, N_CUSTOMERS + 1):
        for d in (1, 2, 3):
            j = (i + d - 1) % N_CUSTOMERS + 1
            pairs[(msisdn(i), msisdn(j))] = 10 - d
        for k in range(2):
            pairs[(msisdn(i), offnet(i, k))] = 2 + k
            numbers.append((offnet(i, k), False, "China Unicom", None, None))
    for k in range(2, 8):  # customer 1: six more off-net contacts
        pairs[(msisdn(1), offnet(1, k))] = 20 + k
        numbers.append((offnet(1, k), False, "China Telecom", None, None))
    pairs[(msisdn(1), msisdn(1001))] = 99  # own second line: never a contact
    for (a, b), calls in pairs.items():
        for month in (dt.date(2026, 1, 1), dt.date(2026, 2, 1)):
            edges.append(edge(a, b, calls, month))
    stages = _stage_tables(subs)
    return {
        **stages,
        "products": products,
        "customers": pd.DataFrame(customers, columns=[
            "customer_id", "customer_type", "name", "gender", "birth_date", "id_number",
            "address", "region", "join_date", "do_not_contact"]),
        "subscriptions": pd.DataFrame(subs, columns=[
            "subscription_id", "customer_id", "msisdn", "product_id", "status", "start_date",
            "end_date"]),
        "bills": pd.DataFrame(bills, columns=[
            "bill_id", "subscription_id", "period", "issue_date", "due_date", "recurring_charge",
            "voice_charge", "sms_charge", "data_charge", "vas_charge", "roaming_charge",
            "total_amount", "arrears"]),
        "interactions": pd.DataFrame(inter, columns=[
            "interaction_id", "customer_id", "msisdn", "channel", "occurred_at", "category",
            "outcome"]),
        "call_edges": pd.DataFrame(edges, columns=[
            "month", "a", "b", "calls_ab", "calls_ba", "seconds_ab", "seconds_ba", "sms_ab",
            "sms_ba", "night_calls", "roaming_calls", "first_contact", "last_contact"]),
        "numbers": pd.DataFrame(numbers, columns=[
            "msisdn", "on_net", "operator", "subscription_id", "customer_id"]),
    }


TIERS = ("top", "high", "medium", "low", "bottom")
CUTOFFS = (dt.date(2026, 3, 1), dt.date(2026, 4, 1))  # the later one is served


def circle_of(i: int) -> int:
    return (i - 1) // 10 + 1


def risk_of(i: int) -> float:
    return round((i * 37 % 100) / 100 + 0.001, 3)


REASONS = dump_reasons([
    {"feature": "calls_trend", "value": -0.4, "contribution": 0.8, "text": "falling usage"},
    {"feature": "churned_neighbours", "value": 2, "contribution": 0.3, "text": "friends left"}])
"""Every line's churn reasons, as ``churn_scores.reasons`` stores them."""


def _stage_tables(subs: list[tuple[Any, ...]]) -> dict[str, pd.DataFrame]:
    """What the graph and insight stages write, as their docs lay it out (two cut-offs)."""
    scores, value, segments, members, circles, circle_members = [], [], [], [], [], []
    active = [s for s in subs if s[4] == "active"]
    for cutoff in CUTOFFS:
        latest = cutoff == CUTOFFS[-1]
        risks = {s[0]: (risk_of(int(s[1][1:])) if latest else 0.5) for s in active}
        ranked = sorted(risks, key=lambda sid: (-risks[sid], sid))
        for rank, sid in enumerate(ranked, 1):
            sub = next(s for s in active if s[0] == sid)
            scores.append((cutoff, sid, sub[1], sub[2], risks[sid], rank,
                           min((rank - 1) * 10 // len(ranked) + 1, 10),
                           REASONS, "model-1" if latest else "model-0"))
        for sub in active:
            i = int(sub[1][1:])
            value.append((cutoff, sub[1], 1, 40.0 + i % 3, 20.0, 900.0 + i, 15.0 + i % 4,
                          60.0, risks[sub[0]], TIERS[i % 5] if latest else "medium"))
            members.append((cutoff, sub[0], sub[1], sub[2], i % 3 if latest else 9, None))
            circle_members.append((cutoff, circle_of(i), sub[2], True, 1.0 / (1 + i % 10),
                                   i % 10 == 1))
        for k, profile in enumerate(("heavy callers", "data lovers", "quiet lines")):
            segments.append((cutoff, k if latest else 9, 50, 1 / 3,
                             profile if latest else "old profile"))
        for c in range(1, 16):
            circles.append((cutoff, c, 10, 10, 0.0, 20, 0.44, 100.0, 20.0, 0.8, 0.7, c % 3,
                            (c % 3) / 10, 400.0 + c, 40.0 + c / 10, "P2", 0.4))
    features = [(cutoff, sub[2], sub[1], sub[0], 3.0 + int(sub[1][1:]) % 4,
                 1.0 / (1 + int(sub[1][1:]) % 10), 0.01 * int(sub[1][1:]) if cutoff == CUTOFFS[-1]
                 else 0.0, circle_of(int(sub[1][1:])))
                for cutoff in CUTOFFS for sub in active]
    prospects, referrers = [], []
    for cutoff in CUTOFFS:
        for i in range(1, 21):
            prospects.append((cutoff, offnet(i, 0), "China Unicom", 1 + i % 4, 1 + i % 4,
                              10 * i, 3.5 * i, i, 2.0 * i, 0.5, 100.0 - i))
            referrers.append((cutoff, offnet(i, 0), msisdn(i), 2.0 * i, i, True))
    return {
        "graph_features": pd.DataFrame(features, columns=[
            "cutoff", "msisdn", "customer_id", "subscription_id", "degree", "pagerank",
            "churn_activation", "circle_id"]),
        "prospects": pd.DataFrame(prospects, columns=[
            "cutoff", "msisdn", "operator", "distinct_customers", "subscribers", "calls",
            "minutes", "sms", "strength", "reciprocity", "score"]),
        "prospect_referrers": pd.DataFrame(referrers, columns=[
            "cutoff", "msisdn", "referrer_msisdn", "weight", "calls", "reciprocal"]),
        "churn_scores": pd.DataFrame(scores, columns=[
            "cutoff", "subscription_id", "customer_id", "msisdn", "churn_risk", "risk_rank",
            "risk_decile", "reasons", "model_id"]),
        "customer_value": pd.DataFrame(value, columns=[
            "cutoff", "customer_id", "lines", "monthly_revenue", "monthly_margin", "clv",
            "network_value", "tenure_months", "churn_risk", "value_tier"]),
        "segments": pd.DataFrame(segments, columns=[
            "cutoff", "segment_id", "subscribers", "share", "profile"]),
        "segment_members": pd.DataFrame(members, columns=[
            "cutoff", "subscription_id", "customer_id", "msisdn", "segment_id",
            "previous_segment_id"]),
        "circles": pd.DataFrame(circles, columns=[
            "cutoff", "circle_id", "size", "on_net_members", "off_net_share", "internal_ties",
            "density", "internal_weight", "external_weight", "internal_share",
            "internal_call_share", "churned_members", "churn_rate", "total_value",
            "mean_value", "dominant_plan", "dominant_plan_share"]),
        "circle_members": pd.DataFrame(circle_members, columns=[
            "cutoff", "circle_id", "msisdn", "on_net", "pagerank", "is_influencer"]),
    }


TYPES = {"previous_segment_id": "BIGINT", "end_date": "DATE",
         "customer_id": "VARCHAR", "subscription_id": "VARCHAR"}


def tag_assignments() -> pd.DataFrame:
    """Tags as ``insight.tags`` writes them: `even` (even customers) and `at_risk`
    (risk ≥ 0.5) in the latest period, `old` in the earlier one."""
    frame = []
    for i in range(1, N_CUSTOMERS + 1):
        tags = [(CUTOFFS[0], "old", "old.v1")]
        if i % 2 == 0:
            tags.append((CUTOFFS[-1], "even", "even.v1"))
        if risk_of(i) >= 0.5:
            tags.append((CUTOFFS[-1], "at_risk", "at_risk.v2"))
        for cutoff, tag, rule in tags:
            frame.append((cutoff, cutoff - dt.timedelta(days=31), customer_id(i), tag, rule,
                          int(rule[-1]), 1, "tag-run"))
    return pd.DataFrame(frame, columns=["cutoff", "period", "customer_id", "tag_id", "rule_id",
                                        "rule_version", "library_version", "run_id"])


def write_snapshot(store: SnapshotStore, run_id: str, variant: int = 0, *,
                   tags: bool = False) -> Snapshot:
    """Build and publish a snapshot of the test operator; returns the published snapshot.

    ``tags``: include a ``tag_assignments`` table (the tag tests write their own)."""
    building = store.begin(run_id)
    con = duckdb.connect(str(building.warehouse_path))
    tables = _tables(variant)
    if tags:
        tables["tag_assignments"] = tag_assignments()
    try:
        for name, frame in tables.items():
            con.register("frame", frame)
            casts = ", ".join(
                f"CAST({column} AS {TYPES[column]}) AS {column}" if column in TYPES
                else column for column in frame.columns)
            con.execute(f"CREATE TABLE {name} AS SELECT {casts} FROM frame")
            con.unregister("frame")
    finally:
        con.close()
    kg = ox.Store(str(building.knowledge_graph_path))
    ex = "https://callcircle.example/"
    for i in range(1, 31):
        kg.add(ox.Quad(ox.NamedNode(f"{ex}customer/{customer_id(i)}"),
                       ox.NamedNode(f"{ex}region"), ox.Literal(REGIONS[i % 3])))
    kg.flush()
    del kg
    building.write_manifest({"run_id": run_id, "variant": variant})
    return store.publish(building)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path: Path, **overrides: Any) -> Path:
    config = {
        "api_keys": [{"name": f"{role}-client", "key": key, "role": role}
                     for role, key in KEYS.items()],
        "jwt": {"secret": JWT_SECRET, "issuer": JWT_ISSUER},
        "limits": {"max_depth": 8, "max_tokens": 1500, "max_aliases": 10,
                   "max_page_size": 100, "max_body_bytes": 20000, "request_timeout_s": 10,
                   "sparql_timeout_s": 5, "sparql_max_rows": 20},
        "introspection": True,
        "snapshot_poll_s": 0.2,
    }
    config.update(overrides)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def client(self, role: str | None = "admin", **headers: str) -> httpx.Client:
        if role is not None:
            headers.setdefault("X-API-Key", KEYS[role])
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_server(data_dir: Path, config: Path, log_path: Path, *,
                 ready: bool = True) -> Server:
    """Start ``callcircle serve``; wait for /readyz (or only /healthz if not ``ready``)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CALLCIRCLE_API_KEYS", None)
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--config", str(config)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # building the serving copy on a busy 2-core runner
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/readyz" if ready else f"{url}/healthz",
                         timeout=1).status_code == 200:
                return Server(url, data_dir, process)
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"server did not start: {log_path.read_text(errors='replace')}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def serve_synthetic_operator(root: Path, *, subscribers: int, seed: int) -> Server:
    """A real server over a snapshot the real pipeline built: a synthetic operator of two
    months, ingested into ``root / "data"``."""
    from ingest.job import run_ingest
    from ingest.synthetic import generate_operator

    generate_operator(root / "source", subscribers=subscribers, months=2, seed=seed,
                      progress=False)
    run_ingest(root / "source", data_dir=root / "data")
    return start_server(root / "data", write_config(root / "api.yaml"), root / "server.log")


def token(role: str, *, secret: str = JWT_SECRET, issuer: str = JWT_ISSUER,
          expires_in: int = 600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": f"user-{role}", "role": role, "iss": issuer, "iat": now,
                       "exp": now + expires_in}, secret, algorithm="HS256")


def gql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """POST a GraphQL document; returns the JSON body (asserting HTTP 200)."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def data(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    body = gql(client, query, **variables)
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server over one published test snapshot."""
    root = tmp_path_factory.mktemp("api")
    write_snapshot(SnapshotStore(root / "data"), "api-test", tags=True)
    config = write_config(root / "api.yaml")
    server = start_server(root / "data", config, root / "server.log")
    yield server
    stop_server(server)
