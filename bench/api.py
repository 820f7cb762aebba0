"""GraphQL API benchmark: bounded load on 127.0.0.1, stops by itself, prints figures.

    python -m bench.api [--data-dir DIR] [--customers 200000] [--requests 400]

Without ``--data-dir`` it writes a synthetic snapshot's staged tables straight into a
warehouse (DuckDB SQL, a few seconds) under a temporary folder. It then starts the
real server (``callcircle serve``, one uvicorn worker, uvloop + httptools, the tuned
garbage collector) and, with the same settings, a bare strawberry server answering the
same shape from an in-memory dict, and measures at 1 and 20 concurrent clients:

- ``customer360``: one customer (profile, lines + plan, channels, bills, 20 contacts)
- ``list50``: 50 customers with their lines and bills summary
- ``bare``: a query of the customer-360 shape from a dict (no stores)

Figures: requests/s, p50 and p99 latency, errors. Goals (issue 6): customer360 p99 <
25 ms at 1 client; at 20 clients throughput ≥ 60 % and p99 ≤ 2× the bare query's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import strawberry

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-admin-key"

CUSTOMER_360 = """
query($id: String!) {
  customer(customerId: $id) {
    id customerId customerType name region joinDate
    subscriptions { msisdn status product { name monthlyFee } }
    channelHistory { channel contacts lastContactAt }
    bills { months lastMonthTotal arrears }
    topContacts(first: 20) { edges { node { number onNet weight } } }
  }
}"""

LIST_50 = """
query($region: String!) {
  customers(first: 50, filter: {region: [$region]}) {
    edges { node { customerId name region subscriptions { msisdn status } bills { arrears } } }
  }
}"""

BARE = """
query($id: String!) {
  customer(customerId: $id) {
    id customerId customerType name region joinDate
    subscriptions { msisdn status product { name monthlyFee } }
    channelHistory { channel contacts lastContactAt }
    bills { months lastMonthTotal arrears }
    topContacts { number onNet weight }
  }
}"""

REGIONS = ["Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Chengdu", "Hangzhou", "Wuhan",
           "Xi'an"]


def build_snapshot(data_dir: Path, customers: int) -> None:
    """Staged tables of a synthetic operator, written with SQL, published as a snapshot."""
    from graph.snapshot import SnapshotStore

    store = SnapshotStore(data_dir)
    building = store.begin("bench")
    con = duckdb.connect(str(building.warehouse_path))
    n = customers
    regions = "[" + ", ".join(f"'{r}'" for r in REGIONS).replace("Xi'an", "Xi''an") + "]"
    con.execute(f"""
        CREATE TABLE products AS SELECT * FROM (VALUES
            ('P1', 'Basic 38', 'plan', 'prepaid', 38.0, 300, 100, 2048, 0.15, 0.05),
            ('P2', 'Family 88', 'plan', 'postpaid', 88.0, 1000, 300, 10240, 0.1, 0.03),
            ('P3', 'Business 188', 'plan', 'postpaid', 188.0, 3000, 1000, 40960, 0.1, 0.02))
            t(product_id, name, product_type, payment_type, monthly_fee, included_minutes,
              included_sms, included_data_mb, price_per_minute, price_per_mb);
        CREATE TABLE customers AS
        SELECT printf('C%08d', i) AS customer_id,
               CASE WHEN i % 10 = 8 THEN 'enterprise' ELSE 'individual' END AS customer_type,
               'Customer ' || i AS name, CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS gender,
               DATE '1970-01-01' + CAST(i % 15000 AS INTEGER) AS birth_date,
               printf('110101%012d', i) AS id_number, i || ' Main Street' AS address,
               {regions}[1 + i % 8] AS region,
               DATE '2015-01-01' + CAST(i % 3000 AS INTEGER) AS join_date,
               i % 23 = 0 AS do_not_contact
        FROM range(1, {n} + 1) r(i);
        CREATE TABLE subscriptions AS
        SELECT printf('S%08d', i) AS subscription_id, printf('C%08d', i) AS customer_id,
               printf('+86138%08d', i) AS msisdn, 'P' || (1 + i % 3) AS product_id,
               'active' AS status, DATE '2020-01-01' AS start_date, NULL::DATE AS end_date
        FROM range(1, {n} + 1) r(i);
        CREATE TABLE numbers AS
        SELECT msisdn, true AS on_net, 'China Mobile' AS operator, subscription_id,
               customer_id, DATE '2026-01-01' AS first_seen, DATE '2026-03-31' AS last_seen
        FROM subscriptions;
        CREATE TABLE bills AS
        SELECT printf('B%08d%d', i, m) AS bill_id, printf('S%08d', i) AS subscription_id,
               DATE '2026-01-01' + INTERVAL (m) MONTH AS period,
               DATE '2026-01-05' + INTERVAL (m) MONTH AS issue_date,
               NULL::DATE AS due_date, 38.0 AS recurring_charge, 1.0 AS voice_charge,
               0.0 AS sms_charge, 2.0 AS data_charge, 0.0 AS vas_charge, 0.0 AS roaming_charge,
               40.0 + m AS total_amount, CASE WHEN i % 7 = 0 THEN 30.0 ELSE 0 END AS arrears
        FROM range(1, {n} + 1) r(i), range(3) m(m);
        CREATE TABLE interactions AS
        SELECT printf('I%08d%d', i, k) AS interaction_id, printf('C%08d', i) AS customer_id,
               printf('+86138%08d', i) AS msisdn,
               ['store', 'call_centre', 'app'][1 + k] AS channel,
               TIMESTAMP '2026-02-01 10:00' + INTERVAL (k * 7 + i % 20) DAY AS occurred_at,
               'enquiry' AS category, 'resolved' AS outcome
        FROM range(1, {n} + 1) r(i), range(3) k(k) WHERE (i + k) % 2 = 0;
        CREATE TABLE call_edges AS
        SELECT month, least(x, y) AS a, greatest(x, y) AS b, 3 + d AS calls_ab, d AS calls_ba,
               60 * d AS seconds_ab, 30 AS seconds_ba, d % 3 AS sms_ab, 1 AS sms_ba,
               0 AS night_calls, 0 AS roaming_calls,
               month + INTERVAL 1 DAY AS first_contact, month + INTERVAL 20 DAY AS last_contact
        FROM (SELECT printf('+86138%08d', i) AS x,
                     printf('+86138%08d', 1 + (i + d * 37) % {n}) AS y, d
              FROM range(1, {n} + 1) r(i), range(1, 11) s(d)),
             (VALUES (DATE '2026-01-01'), (DATE '2026-02-01')) m(month);
    """)
    con.close()
    building.write_manifest({"run_id": "bench", "customers": n})
    store.publish(building)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen[bytes], path: str = "/healthz",
            timeout_s: float = 900) -> None:
    """Wait for the server (readiness includes building the snapshot's serving copy)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not come up")


async def load(url: str, query: str, variables: list[dict[str, Any]], concurrency: int,
               total: int) -> dict[str, float]:
    """``total`` requests over ``concurrency`` connections; latencies in ms."""
    latencies: list[float] = []
    errors = 0
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY},
                                 limits=limits, timeout=60) as client:
        async def worker() -> None:
            nonlocal errors
            for i in remaining:
                body = {"query": query, "variables": variables[i % len(variables)]}
                started = time.perf_counter()
                response = await client.post("/graphql", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or "errors" in response.json():
                    errors += 1

        for _ in range(min(20, total)):  # warm up
            await client.post("/graphql", json={"query": query, "variables": variables[0]})
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": total / elapsed, "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "errors": errors}


# -- the bare server: same shape, from a dict ------------------------------------------


@strawberry.type(name="Product")
class BareProduct:
    name: str
    monthly_fee: float


@strawberry.type(name="Subscription")
class BareLine:
    msisdn: str
    status: str
    product: BareProduct


@strawberry.type(name="ChannelContact")
class BareChannel:
    channel: str
    contacts: int
    last_contact_at: str


@strawberry.type(name="BillsSummary")
class BareBills:
    months: int
    last_month_total: float
    arrears: float


@strawberry.type(name="Contact")
class BareContact:
    number: str
    on_net: bool
    weight: int


@strawberry.type(name="Customer")
class BareCustomer:
    id: strawberry.ID
    customer_id: str
    customer_type: str
    name: str
    region: str
    join_date: str
    subscriptions: list[BareLine]
    channel_history: list[BareChannel]
    bills: BareBills
    top_contacts: list[BareContact]


def _bare_customer(customer_id: str) -> BareCustomer:
    return BareCustomer(
        id=strawberry.ID(customer_id), customer_id=customer_id, customer_type="individual",
        name="Z***", region="Beijing", join_date="2020-01-01",
        subscriptions=[BareLine(msisdn="+86138****0001", status="active",
                                product=BareProduct(name="Basic 38", monthly_fee=38.0))],
        channel_history=[BareChannel(channel=c, contacts=2, last_contact_at="2026-02-01")
                         for c in ("store", "app")],
        bills=BareBills(months=3, last_month_total=42.0, arrears=0.0),
        top_contacts=[BareContact(number=f"+86138****{k:04d}", on_net=True, weight=20 - k)
                      for k in range(20)])


_BARE_DATA: dict[str, BareCustomer] = {}


@strawberry.type(name="Query")
class BareQuery:
    @strawberry.field
    async def customer(self, customer_id: str) -> BareCustomer | None:
        found = _BARE_DATA.get(customer_id)
        if found is None:
            found = _BARE_DATA[customer_id] = _bare_customer(customer_id)
        return found


def bare_app() -> Any:
    """A strawberry app answering the customer-360 shape from a dict: the floor."""
    from strawberry.asgi import GraphQL
    from strawberry.extensions import ParserCache, ValidationCache

    schema = strawberry.Schema(BareQuery, extensions=[lambda: ParserCache(maxsize=512),
                                                      lambda: ValidationCache(maxsize=512)])
    return GraphQL(schema, graphql_ide=None, allow_queries_via_get=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="serve this data dir (default: build one)")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        import uvicorn

        from api.app import quiet_garbage_collector

        quiet_garbage_collector()  # as the API server does
        uvicorn.run(bare_app(), host="127.0.0.1", port=args.bare_server, loop="uvloop",
                    http="httptools", log_level="warning", access_log=False)
        gc.unfreeze()
        return

    with tempfile.TemporaryDirectory(prefix="callcircle-bench-") as tmp:
        data_dir = args.data_dir
        customers = args.customers
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            started = time.perf_counter()
            build_snapshot(data_dir, customers)
            print(f"built a {customers:,}-customer snapshot in "
                  f"{time.perf_counter() - started:.1f} s")
        config = Path(tmp) / "api.yaml"
        config.write_text(
            f"api_keys: [{{name: bench, key: {API_KEY}, role: admin}}]\n"
            "limits: {request_timeout_s: 60}\n", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        api_port, bare_port = free_port(), free_port()
        api = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(data_dir),
             "--port", str(api_port), "--config", str(config)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.api", "--bare-server", str(bare_port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            api_url, bare_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
            started = time.perf_counter()
            wait_up(api_url, api, "/readyz")
            print(f"server ready (serving copy built or reused) in "
                  f"{time.perf_counter() - started:.1f} s")
            wait_up_bare(bare_url, bare)
            ids = _sample_ids(data_dir)
            rng = random.Random(7)
            by_id = [{"id": rng.choice(ids)} for _ in range(500)]
            by_region = [{"region": r} for r in REGIONS]
            print(f"{'query':<12} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>6}")
            for concurrency in (1, 20):
                total = args.requests * (1 if concurrency == 1 else 3)
                for name, url, query, variables in (
                    ("customer360", api_url, CUSTOMER_360, by_id),
                    ("list50", api_url, LIST_50, by_region),
                    ("bare", bare_url, BARE, by_id),
                ):
                    figures = asyncio.run(load(url, query, variables, concurrency, total))
                    print(f"{name:<12} {concurrency:>7} {figures['rps']:>8.1f} "
                          f"{figures['p50']:>8.1f} {figures['p99']:>8.1f} "
                          f"{figures['errors']:>6}")
        finally:
            for process in (api, bare):
                process.terminate()
            for process in (api, bare):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_up_bare(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("bare server exited")
        try:
            httpx.post(url + "/graphql", json={"query": "{ __typename }"}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("bare server did not come up")


def _sample_ids(data_dir: Path) -> list[str]:
    from graph.snapshot import SnapshotStore

    snapshot = SnapshotStore(data_dir).current()
    assert snapshot is not None
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT customer_id FROM customers USING SAMPLE 500 ROWS").fetchall()
    finally:
        con.close()
    return [customer_id for (customer_id,) in rows]


if __name__ == "__main__":
    main()
