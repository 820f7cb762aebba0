"""The explorer at scale: a circle of 1,500 numbers and 6,000 ties, drawn in the browser.

The snapshot is written directly (as the graph and insight stages would), one circle big
enough to check that the page lays it out and redraws it fast in headless Chromium's
software WebGL. Figures go to ``test-artifacts/explorer/scale.txt``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import Server, data, start_server, stop_server, write_config  # noqa: E402
from test_explorer import ARTIFACTS, Page, launch_chromium  # noqa: E402
from test_explorer_locale import assert_no_overlap, label_boxes_at  # noqa: E402

from graph.snapshot import SnapshotStore  # noqa: E402

pytestmark = pytest.mark.browser

MEMBERS = 1500
CUTOFF = dt.date(2026, 3, 1)


def _write_big_circle(store: SnapshotStore) -> None:
    building = store.begin("big-circle")
    con = duckdb.connect(str(building.warehouse_path))
    n, cut = MEMBERS, f"DATE '{CUTOFF}'"
    try:
        con.execute(f"""CREATE TABLE customers AS SELECT printf('C%05d', i) AS customer_id,
            'individual' AS customer_type, 'Li Na ' || i AS name, 'F' AS gender,
            DATE '1990-01-01' AS birth_date, printf('1101%014d', i) AS id_number,
            'somewhere' AS address, 'Beijing' AS region, DATE '2020-01-01' AS join_date,
            false AS do_not_contact FROM range({n}) t(i)""")
        con.execute(f"""CREATE TABLE subscriptions AS SELECT printf('S%05d', i) AS subscription_id,
            printf('C%05d', i) AS customer_id, printf('+86139%08d', i) AS msisdn,
            'P1' AS product_id, 'active' AS status, DATE '2021-01-01' AS start_date,
            NULL::DATE AS end_date FROM range({n}) t(i)""")
        con.execute("""CREATE TABLE numbers AS SELECT msisdn, true AS on_net,
            'China Mobile' AS operator, subscription_id, customer_id FROM subscriptions""")
        # each number talks to its 4 ring neighbours: 6,000 ties in one community
        con.execute(f"""CREATE TABLE call_edges AS
            SELECT DATE '2026-02-01' AS month, printf('+86139%08d', i) AS a,
                   printf('+86139%08d', (i + d) % {n}) AS b, 1 + (i * d) % 9 AS calls_ab,
                   1 AS calls_ba, 60 * d AS seconds_ab, 30 AS seconds_ba, 0 AS sms_ab,
                   0 AS sms_ba, 0 AS night_calls, 0 AS roaming_calls,
                   TIMESTAMP '2026-02-02' AS first_contact, TIMESTAMP '2026-02-20' AS last_contact
            FROM range({n}) t(i), range(1, 5) s(d)""")
        con.execute(f"""CREATE TABLE circles AS SELECT {cut} AS cutoff, 1::BIGINT AS circle_id,
            {n} AS size, {n} AS on_net_members, 0.0 AS off_net_share, {4 * n} AS internal_ties,
            0.003 AS density, 100.0 AS internal_weight, 1.0 AS external_weight,
            0.99 AS internal_share, 0.99 AS internal_call_share, 0 AS churned_members,
            0.0 AS churn_rate, 1000.0 AS total_value, 1.0 AS mean_value, 'P1' AS dominant_plan,
            1.0 AS dominant_plan_share""")
        con.execute(f"""CREATE TABLE circle_members AS SELECT {cut} AS cutoff,
            1::BIGINT AS circle_id, printf('+86139%08d', i) AS msisdn, true AS on_net,
            1.0 / (1 + i) AS pagerank, i < 3 AS is_influencer FROM range({n}) t(i)""")
        con.execute(f"""CREATE TABLE churn_scores AS SELECT {cut} AS cutoff,
            printf('S%05d', i) AS subscription_id, printf('C%05d', i) AS customer_id,
            printf('+86139%08d', i) AS msisdn, (i % 100) / 100.0 AS churn_risk,
            (i + 1)::BIGINT AS risk_rank, 1 + i % 10 AS risk_decile,
            '[{{"feature": "usage_trend", "text": "falling usage"}}]' AS reasons,
            'model-1' AS model_id FROM range({n}) t(i)""")
        con.execute(f"""CREATE TABLE customer_value AS SELECT {cut} AS cutoff,
            printf('C%05d', i) AS customer_id, 1 AS lines, 40.0 AS monthly_revenue,
            20.0 AS monthly_margin, 100.0 + (i * 37) % 900 AS clv, 1.0 AS network_value,
            12.0 AS tenure_months, (i % 100) / 100.0 AS churn_risk,
            ['top', 'high', 'medium', 'low', 'bottom'][1 + i % 5] AS value_tier
            FROM range({n}) t(i)""")
    finally:
        con.close()
    building.write_manifest({"run_id": "big-circle"})
    store.publish(building)


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("explorer-scale")
    _write_big_circle(SnapshotStore(root / "data"))
    server = start_server(root / "data", write_config(root / "api.yaml"), root / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


def test_a_circle_of_1500_numbers_draws_and_redraws_fast(big_server: Server,
                                                          browser: Any) -> None:
    with big_server.client("analyst") as client:
        total = data(client, '{ circle(circleId: "1") { members(first: 1) { totalCount } } }'
                     )["circle"]["members"]["totalCount"]
    assert total == MEMBERS
    page = Page(browser, big_server, "analyst")
    try:
        started = time.perf_counter()
        page.search("1", "circle")
        drawn_s = time.perf_counter() - started
        assert page.page.evaluate("window.explorer.graph.order") == MEMBERS
        assert page.page.evaluate("window.explorer.graph.size") == 4 * MEMBERS
        # a redraw (pan, zoom, filter) re-renders every node and edge: time 20 of them
        frame_ms = page.page.evaluate("""() => {
            const r = window.explorer.renderer, camera = r.getCamera();
            const t0 = performance.now();
            for (let i = 0; i < 20; i++) {
                camera.setState({ ratio: 1 - i / 40 });
                r.refresh();
            }
            const ms = (performance.now() - t0) / 20;
            camera.setState({ x: 0.5, y: 0.5, ratio: 1, angle: 0 });
            r.refresh();
            return ms;
        }""")
        # 1,500 numbers want more labels than fit: some are left out, none overlaps
        boxes, candidates, width, height = label_boxes_at(page, 1.0)
        assert_no_overlap(boxes, width, height)
        assert 10 <= len(boxes) < candidates
        colours = page.page.evaluate(
            "new Set(window.explorer.graph.mapNodes((n, a) => a.color)).size")
        page.shot("scale-1500")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "scale.txt").write_text(
            f"{MEMBERS} numbers, {4 * MEMBERS} ties: search to drawn {drawn_s:.2f} s, "
            f"redraw {frame_ms:.1f} ms per frame (software WebGL)\n", encoding="utf-8")
        assert colours > 10  # colour follows churn risk
        assert drawn_s < 20
        assert frame_ms < 200
        assert page.errors == []
    finally:
        page.close()
