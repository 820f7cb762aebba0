"""The explorer page in a real browser (Debian's headless Chromium through Playwright)
against the real server over a snapshot of the synthetic operator.

Screenshots land in ``test-artifacts/explorer/``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import networkx as nx
import pytest

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import KEYS, ROOT, Server, data, serve_synthetic_operator, stop_server  # noqa: E402

pytestmark = pytest.mark.browser
pytest_plugins = ["api_fixtures"]  # api_server: the hand-written snapshot with scores and tags

ARTIFACTS = ROOT / "test-artifacts" / "explorer"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="module")
def synthetic_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve_synthetic_operator(tmp_path_factory.mktemp("explorer"), subscribers=150,
                                      seed=5)
    yield server
    stop_server(server)


def launch_chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright (never a downloaded browser); skip without it."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


class Page:
    """A signed-in page that records console errors and requests leaving the server.

    Waits poll with ``evaluate`` (CDP, not the page's ``eval``): the page's CSP forbids
    ``unsafe-eval``, which Playwright's ``wait_for_function`` needs, and the tests keep
    the CSP on so that a violation shows up as a console error.
    """

    def __init__(self, browser: Any, server: Server, role: str,
                 locale: str | None = None) -> None:
        # the context's locale is the browser's Accept-Language (Playwright's default: en-US)
        options = {"locale": locale} if locale else {}
        self.context = browser.new_context(viewport={"width": 1400, "height": 900},
                                           accept_downloads=True, **options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.external: list[str] = []
        self.page.on("request", lambda r: r.url.startswith(server.url)
                     or r.url.startswith(("data:", "blob:")) or self.external.append(r.url))
        self.page.goto(f"{server.url}/")
        assert self.page.url.endswith("/explore/login")
        self.page.fill("#api-key", KEYS[role])
        self.page.click("#login-button")
        self.page.wait_for_url(f"{server.url}/explore")
        self.wait("() => Boolean(window.explorer && window.explorer.ready)")
        self.page.evaluate("() => window.explorer.ready")
        self.page.wait_for_selector("#risky-circles li")

    def wait(self, predicate: str, arg: Any = None, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.page.evaluate(predicate, arg):
            assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
            time.sleep(0.05)

    def search(self, value: str, kind: str = "auto") -> None:
        self.page.select_option("#search-kind", kind)
        self.page.fill("#search-input", value)
        self.page.click("#search-button")
        self.wait("() => window.explorer.graph.order > 0 "
                  "&& !document.getElementById('circle-panel').hidden")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()


def _largest_circle(server: Server) -> dict[str, Any]:
    with server.client("admin") as client:
        circles = data(client, """{ circles(first: 1) { edges { node { circleId
            members(first: 1) { totalCount } } } } }""")["circles"]["edges"]
    return circles[0]["node"]


def _customer_in(server: Server, circle_id: str) -> tuple[str, str]:
    """A customer of the circle and one of its numbers (admin sees them in clear)."""
    with server.client("admin") as client:
        members = data(client, """query($c: String!) { circle(circleId: $c) {
            members(first: 100) { edges { node { number customer { customerId } } } } } }""",
                       c=circle_id)["circle"]["members"]["edges"]
    member = next(m["node"] for m in members if m["node"]["customer"])
    return member["customer"]["customerId"], member["number"]


def test_anonymous_browser_is_sent_to_sign_in_and_api_refuses_it(
        synthetic_server: Server) -> None:
    response = httpx.get(f"{synthetic_server.url}/explore", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/explore/login"
    assert httpx.post(f"{synthetic_server.url}/graphql",
                      json={"query": "{ snapshot { id } }"}).status_code == 401
    bad = httpx.post(f"{synthetic_server.url}/explore/login", json={"apiKey": "nope"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers


def test_session_cookie_is_strict_httponly_and_json_only(synthetic_server: Server) -> None:
    url = synthetic_server.url
    login = httpx.post(f"{url}/explore/login", json={"apiKey": KEYS["analyst"]})
    assert login.status_code == 200
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    jar = login.cookies
    ok = httpx.post(f"{url}/graphql", json={"query": "{ snapshot { id } }"}, cookies=jar)
    assert ok.status_code == 200 and ok.json()["data"]["snapshot"]["id"]
    # a cross-site form post (no JSON) does not count, nor does the cookie for /sparql
    form = httpx.post(f"{url}/graphql", data={"query": "{ snapshot { id } }"}, cookies=jar)
    assert form.status_code == 401
    assert httpx.get(f"{url}/sparql", params={"query": "ASK {}"}, cookies=jar).status_code == 401
    value = jar["callcircle_session"]
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert httpx.post(f"{url}/graphql", json={"query": "{ snapshot { id } }"},
                      cookies={"callcircle_session": forged}).status_code == 401
    assert httpx.get(f"{url}/explore", cookies=jar).status_code == 200


def test_search_draws_the_circle_and_a_click_opens_the_customer(
        synthetic_server: Server, browser: Any, tmp_path: Path) -> None:
    circle = _largest_circle(synthetic_server)
    customer_id, _ = _customer_in(synthetic_server, circle["circleId"])
    page = Page(browser, synthetic_server, "admin")
    try:
        page.search(customer_id, "customer")
        order = page.page.evaluate("window.explorer.graph.order")
        assert order == circle["members"]["totalCount"]
        assert page.page.evaluate("window.explorer.graph.size") > 0
        assert page.page.inner_text("#circle-id") == circle["circleId"]
        # click a customer node where sigma draws it
        # the search selected the customer's node; click another customer's node, where
        # sigma draws it (graph coordinates → viewport pixels)
        assert page.page.evaluate("document.getElementById('node-panel').dataset.customer"
                                  ) == customer_id
        node, x, y = page.page.evaluate("""searched => {
            const { graph, renderer } = window.explorer;
            renderer.getCamera().setState({ x: 0.5, y: 0.5, ratio: 1, angle: 0 });
            renderer.refresh();
            const node = graph.findNode((n, a) => a.customer !== null && a.customer !== searched);
            const p = renderer.graphToViewport(graph.getNodeAttributes(node));
            return [node, p.x, p.y];
        }""", customer_id)
        expected = page.page.evaluate(
            "n => window.explorer.graph.getNodeAttribute(n, 'customer')", node)
        box = page.page.locator("#graph").bounding_box()
        page.page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait("c => document.getElementById('node-title').textContent === `Customer ${c}`",
                  expected)
        page.wait("() => document.getElementById('node-stats').textContent.includes('region')")
        assert page.page.evaluate("window.explorer.selected") == node
        assert page.page.is_visible("#node-panel")
        page.shot("circle-admin")
        # export: the GEXF of the visible graph reads back with the same nodes
        with page.page.expect_download() as download_info:
            page.page.click("#export-gexf")
        path = tmp_path / "circle.gexf"
        download_info.value.save_as(path)
        exported = nx.read_gexf(path)
        nodes = set(page.page.evaluate("window.explorer.graph.nodes()"))
        assert set(exported.nodes) == nodes
        assert exported.number_of_edges() == page.page.evaluate("window.explorer.graph.size")
        with page.page.expect_download() as graphml_info:
            page.page.click("#export-graphml")
        graphml = tmp_path / "circle.graphml"
        graphml_info.value.save_as(graphml)
        assert set(nx.read_graphml(graphml).nodes) == nodes
        with page.page.expect_download() as png_info:
            page.page.click("#export-png")
        png = tmp_path / "circle.png"
        png_info.value.save_as(png)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
        shutil.copy(png, ARTIFACTS / "export.png")
        assert page.errors == []
        assert page.external == []
    finally:
        page.close()


def test_analyst_sees_no_clear_number(synthetic_server: Server, browser: Any) -> None:
    circle = _largest_circle(synthetic_server)
    customer_id, number = _customer_in(synthetic_server, circle["circleId"])
    page = Page(browser, synthetic_server, "analyst")
    try:
        page.search(number, "phone")  # a phone number finds the circle, shown masked
        assert page.page.evaluate("window.explorer.graph.order") == circle["members"]["totalCount"]
        page.wait("c => document.getElementById('node-title').textContent === `Customer ${c}`",
                  customer_id)
        page.wait("() => document.getElementById('node-stats').textContent.includes('region')")
        page.shot("circle-analyst")
        html = page.page.content()
        labels = page.page.evaluate(
            "window.explorer.graph.mapNodes((n, a) => a.number).join(' ')")
        assert number not in html and number not in labels
        assert "****" in labels
        assert page.errors == []
    finally:
        page.close()


def test_expand_and_filters(synthetic_server: Server, browser: Any) -> None:
    circle = _largest_circle(synthetic_server)
    page = Page(browser, synthetic_server, "analyst")
    try:
        page.search(circle["circleId"], "circle")
        before = page.page.evaluate("window.explorer.graph.order")
        before_nodes = page.page.evaluate("window.explorer.graph.nodes()")
        node = page.page.evaluate(
            "window.explorer.graph.findNode((n, a) => a.onNet)")
        page.page.evaluate("n => window.explorer.selectNode(n)", node)
        page.page.click("#expand")
        page.wait("() => document.getElementById('status').textContent"
                  ".endsWith('numbers added')")
        with synthetic_server.client("analyst") as client:
            neighbours = data(client, """query($k: String!) { neighbourhood(key: $k, first: 30) {
                nodes { key } } }""", k=node)["neighbourhood"]["nodes"]
        keys = [n["key"] for n in neighbours]
        assert keys
        drawn = page.page.evaluate("""([node, keys]) => keys.map(k =>
            window.explorer.graph.hasNode(k) && window.explorer.graph.hasEdge(node, k))""",
                                   [node, keys])
        assert all(drawn)
        after = page.page.evaluate("window.explorer.graph.order")
        assert after == before + len(set(keys) - set(before_nodes))
        page.page.uncheck("#filter-offnet")
        visible = page.page.evaluate(
            "window.explorer.graph.filterNodes(n => window.explorer.isVisible(n)).length")
        onnet = page.page.evaluate(
            "window.explorer.graph.filterNodes((n, a) => a.onNet).length")
        assert visible == onnet
        assert page.errors == []
    finally:
        page.close()


def test_session_cookie_ends_with_its_key_role_or_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLCIRCLE_SESSION_SECRET", raising=False)
    from api.auth import Role
    from api.explorer import SESSION_TTL_S, principal_from_cookie, session_cookie
    from api.settings import Settings

    def settings(role: str) -> Settings:
        return Settings.from_mapping({"api_keys": [
            {"name": "crm", "key": "k-123", "role": role}]}, data_dir=tmp_path)

    analyst = settings("analyst")
    principal = principal_from_cookie(
        session_cookie(_principal("crm", Role.ANALYST), analyst), analyst)
    assert principal is not None and principal.role is Role.ANALYST
    cookie = session_cookie(_principal("crm", Role.ANALYST), analyst)
    assert principal_from_cookie(cookie, settings("admin")) is None  # role changed
    assert principal_from_cookie(cookie, Settings.from_mapping({}, data_dir=tmp_path)) is None
    old = session_cookie(_principal("crm", Role.ANALYST), analyst,
                         now=time.time() - SESSION_TTL_S - 1)
    assert principal_from_cookie(old, analyst) is None  # expired
    assert (tmp_path / ".explorer-secret").stat().st_mode & 0o077 == 0


def _principal(name: str, role: Any) -> Any:
    from api.auth import Principal

    return Principal(subject=name, role=role, method="api_key")


def test_filters_by_risk_tier_and_tag(api_server: Server, browser: Any) -> None:
    from api_fixtures import TIERS, risk_of

    members = range(1, 11)  # circle 1 of the hand-written snapshot
    page = Page(browser, api_server, "analyst")
    try:
        page.search("1", "circle")
        assert page.page.evaluate("window.explorer.graph.order") == len(members)

        def visible_customers(**controls: Any) -> set[str]:
            return set(page.page.evaluate("""controls => {
                for (const [id, value] of Object.entries(controls)) {
                    const input = document.getElementById(id);
                    if (input.type === "checkbox") input.checked = value; else input.value = value;
                    input.dispatchEvent(new Event("input"));
                }
                const { graph, isVisible } = window.explorer;
                return graph.filterNodes(isVisible).map(n => graph.getNodeAttribute(n, "customer"));
            }""", controls))

        assert visible_customers(**{"filter-risk": "0.5"}) == {
            f"C{i:04d}" for i in members if risk_of(i) >= 0.5}
        assert visible_customers(**{"filter-risk": "0", "filter-tier": "high"}) == {
            f"C{i:04d}" for i in members if TIERS[i % 5] == "high"}
        assert visible_customers(**{"filter-tier": "", "filter-tag": "even"}) == {
            f"C{i:04d}" for i in members if i % 2 == 0}
        colours = page.page.evaluate(
            "window.explorer.graph.mapNodes((n, a) => [a.risk, a.color])")
        assert len({colour for _, colour in colours}) > 5  # colour follows risk
        page.shot("filters-analyst")
        assert page.errors == []
    finally:
        page.close()
