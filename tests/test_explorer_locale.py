"""The explorer in zh-CN and en: how the locale is chosen, that every word of the page comes
from the one catalog, that the Chinese page holds no English and renders its glyphs, the
legend, labels that never overlap, the keyboard, and money and months as graph.locales
writes them. Debian's headless Chromium through Playwright against the real server.

Screenshots of both locales land in ``test-artifacts/explorer/`` (kept by CI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import KEYS, ROOT, Server, data, serve_synthetic_operator, stop_server  # noqa: E402
from test_explorer import Page, _customer_in, _largest_circle, launch_chromium  # noqa: E402

from api.explorer_messages import LANGUAGE_NAMES, MESSAGES, page_messages  # noqa: E402
from graph.locales import extract, format_money, format_month  # noqa: E402

pytestmark = pytest.mark.browser

STATIC = ROOT / "api" / "static" / "explorer"
ZH = "zh-CN,zh;q=0.9,en;q=0.5"
LATIN_ALLOWED = {
    "callcircle": "the product's name",
    "GEXF": "a file format (the export buttons say which file they write)",
    "GraphML": "a file format",
    "PNG": "a file format",
    "Gephi": "the tool that reads GEXF",
    "ARPU": "the operators' own term, used as is in Chinese CRM (ARPU值)",
    "Esc": "the key's cap, as printed on Chinese keyboards",
    "English": "the locale switch names each language in itself",
}
"""Latin words the zh-CN page may show, and why; data (numbers, ids, names) comes on top."""
HAN = re.compile(r"[\u3400-\u9fff]")
DYNAMIC = ("type.", "line.", "role.", "operator.")
"""Message keys the page builds from a data code (``word("type", c.customerType)``)."""

# Every visible text node of the page, the label texts drawn on the graph's canvas, and the
# attributes a reader meets (title, aria-label, placeholder, alt, the options of selects).
VISIBLE_TEXT = """() => {
    const out = [document.title];
    const visible = (el) => {
        for (let e = el; e; e = e.parentElement) {
            if (e.hidden || getComputedStyle(e).display === "none"
                || getComputedStyle(e).visibility === "hidden") return false;
        }
        return true;
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (el.closest("script, style") || !visible(el)) continue;
        if (el.tagName === "OPTION" || n.textContent.trim()) out.push(n.textContent.trim());
    }
    for (const el of document.querySelectorAll("[title], [aria-label], [placeholder], [alt]")) {
        if (!visible(el)) continue;
        for (const name of ["title", "aria-label", "placeholder", "alt"]) {
            if (el.hasAttribute(name)) out.push(el.getAttribute(name));
        }
    }
    if (window.explorer) out.push(...window.explorer.labels.map((b) => b.label));
    return out.filter(Boolean);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve_synthetic_operator(tmp_path_factory.mktemp("explorer-locale"),
                                      subscribers=150, seed=5)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_locale_comes_from_the_switch_then_accept_language_then_english(
        server: Server) -> None:
    url = f"{server.url}/explore/login"
    assert _lang(httpx.get(url).text) == "en"
    zh = httpx.get(url, headers={"Accept-Language": ZH})
    assert _lang(zh.text) == "zh-CN" and zh.headers["content-language"] == "zh-CN"
    assert "登录" in zh.text and "Sign in" not in zh.text
    assert _lang(httpx.get(url, headers={"Accept-Language": "fr, zh-TW;q=0.8"}).text) == "en"
    # the switch (?locale=) wins over the browser and is kept in a cookie
    chosen = httpx.get(url, params={"locale": "en"}, headers={"Accept-Language": ZH})
    assert _lang(chosen.text) == "en"
    assert chosen.cookies["callcircle_locale"] == "en"
    kept = httpx.get(url, headers={"Accept-Language": ZH}, cookies={"callcircle_locale": "en"})
    assert _lang(kept.text) == "en" and "set-cookie" not in kept.headers
    assert _lang(httpx.get(url, params={"locale": "zh_cn"}).text) == "zh-CN"
    # a locale callcircle does not speak is ignored, not an error
    assert _lang(httpx.get(url, params={"locale": "fr"}, headers={"Accept-Language": ZH}
                           ).text) == "zh-CN"
    # an anonymous browser keeps its choice through the sign-in page
    away = httpx.get(f"{server.url}/explore", params={"locale": "zh-CN"},
                     follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == "/explore/login?locale=zh-CN"
    login = httpx.post(f"{server.url}/explore/login", json={"apiKey": KEYS["analyst"]})
    page = httpx.get(f"{server.url}/explore", cookies=login.cookies,
                     headers={"Accept-Language": ZH})
    assert page.status_code == 200 and _lang(page.text) == "zh-CN"
    assert "交往圈" in page.text and "{{" not in page.text


def test_the_servers_locale_is_the_last_fallback() -> None:
    from starlette.requests import Request

    from api.explorer import page_locale

    def request(query: str = "", **headers: str) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/explore",
                        "query_string": query.encode(),
                        "headers": [(k.lower().replace("_", "-").encode(), v.encode())
                                    for k, v in headers.items()]})

    assert page_locale(request(), "zh-CN") == ("zh-CN", False)  # api.yaml's locale: zh-CN
    assert page_locale(request(), "en") == ("en", False)
    assert page_locale(request(accept_language="en-GB"), "zh-CN") == ("en", False)
    assert page_locale(request(accept_language="fr"), "zh-CN") == ("zh-CN", False)
    assert page_locale(request(cookie="callcircle_locale=en"), "zh-CN") == ("en", False)
    assert page_locale(request("locale=en", accept_language="zh"), "zh-CN") == ("en", True)


def test_every_word_of_the_page_is_a_catalog_message() -> None:
    used: set[str] = set()
    for template in ("index.html", "login.html"):
        used |= set(re.findall(r"\{\{\s*([\w.]+)\s*\}\}",
                               (STATIC / template).read_text(encoding="utf-8")))
    used -= {"lang", "messages"}
    code = "\n".join(script.read_text(encoding="utf-8") for script in STATIC.glob("*.js"))
    named = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", code))
    assert (used | named) - set(MESSAGES) == set()  # a key the page names is in the table
    used |= {key for key in MESSAGES if f'"{key}"' in code}  # also t(a ? "yes" : "no")
    unused = {k for k in set(MESSAGES) - used if not k.startswith(DYNAMIC)}
    assert unused == set()  # and the table holds nothing the page never shows
    assert set(MESSAGES.values()) <= {m.id for m in extract() if m.id}
    zh = page_messages("zh-CN")
    untranslated = [k for k, v in zh["messages"].items() if v == MESSAGES[k]]
    assert untranslated == []
    worded = [k for k, v in MESSAGES.items() if re.search(r"[a-z]", re.sub(r"\{\w+\}", "", v))]
    assert [k for k in worded if not HAN.search(zh["messages"][k])] == []
    assert page_messages("en")["messages"] == MESSAGES


def _data_strings(server: Server, customer_id: str, circle_id: str, locale: str) -> list[str]:
    """What the page shows that is data, not UI: names, places, plans, tags, segment
    profiles and reasons as the API gives them (reasons and profiles get their locale from
    the API's own text fields), and the signed-in key's name. Operators are not data here:
    the page names China's carriers in the locale."""
    with server.client("admin", **{"Accept-Language": locale}) as client:
        found = data(client, """query($c: String!, $id: String!) {
            customer(customerId: $id) { name region tags segment { segmentId profile }
              churnRisk { reasons } subscriptions { product { name } } }
            circle(circleId: $c) { dominantPlan }
            circleGraph(circleId: $c) { nodes { customer { name } } } }""",
                     c=circle_id, id=customer_id)
    c = found["customer"]
    strings = [c["name"], c["region"], *c["tags"], *(c["churnRisk"] or {}).get("reasons", []),
               *(s["product"]["name"] for s in c["subscriptions"] if s["product"]),
               found["circle"]["dominantPlan"], "admin-client", "analyst-client"]
    if c["segment"]:
        strings += [c["segment"]["segmentId"], c["segment"]["profile"]]
    strings += [(node["customer"] or {}).get("name") for node in found["circleGraph"]["nodes"]]
    return sorted({s for s in strings if s}, key=len, reverse=True)


def _strip_data(text: str, data_strings: list[str]) -> str:
    for value in data_strings:
        text = text.replace(value, " ")
    # numbers (masked or not), ids such as C10000068 or P104, money and percentages
    return re.sub(r"\+?[\d*][\d*.,:%\-]*|\b[A-Z]+\d+\b", " ", text)


def _open_a_customer(page: Page, server: Server) -> tuple[str, str]:
    circle = _largest_circle(server)
    customer_id, _ = _customer_in(server, circle["circleId"])
    page.search(customer_id, "customer")
    page.wait("() => document.querySelectorAll('#node-stats dt').length > 8")
    # the keyboard's focus line shows too
    page.page.focus("#graph")
    page.page.keyboard.press("ArrowRight")
    page.wait("() => document.getElementById('graph-focus').textContent !== ''")
    return customer_id, circle["circleId"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_page_speaks_one_language(server: Server, browser: Any, locale: str) -> None:
    page = Page(browser, server, "admin", locale=locale)
    try:
        assert page.page.evaluate("document.documentElement.lang") == locale
        assert page.page.evaluate("window.explorer.locale") == locale
        asked: list[str | None] = []  # the language the page asks the API to answer in
        page.page.on("request", lambda r: r.url.endswith("/graphql")
                     and asked.append(r.headers.get("accept-language")))
        customer_id, circle_id = _open_a_customer(page, server)
        assert asked and set(asked) == {locale}
        texts = page.page.evaluate(VISIBLE_TEXT)
        page.shot(f"locale-{locale}")
        allowed = _data_strings(server, customer_id, circle_id, locale)
        leftovers = [_strip_data(text, allowed) for text in texts]
        if locale == "zh-CN":
            english = sorted({word for text in leftovers
                              for word in re.findall(r"[A-Za-z]+", text)
                              if word not in LATIN_ALLOWED})
            assert english == []
            assert "交往圈" in " ".join(texts) and "流失风险" in " ".join(texts)
        else:
            # the locale switch names Chinese in Chinese (LATIN_ALLOWED's "English")
            chinese = [text for text in leftovers
                       if HAN.search(text) and text.strip() != LANGUAGE_NAMES["zh-CN"]]
            assert chinese == []
            assert MESSAGES["legend.size"] in texts and MESSAGES["circle.lineage"] in texts
        # no field left unfilled, no slot left unrendered
        assert not [text for text in texts if re.search(r"\{\w+\}|\{\{", text)]
        assert page.errors == [] and page.external == []  # t() throws on a missing key
    finally:
        page.close()


def test_the_sign_in_page_in_chinese(server: Server, browser: Any) -> None:
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{server.url}/explore/login")
        texts = page.evaluate(VISIBLE_TEXT)
        english = sorted({word for text in texts for word in re.findall(r"[A-Za-z]+", text)
                          if word not in LATIN_ALLOWED})
        assert english == []
        page.fill("#api-key", "not-a-key")
        page.click("#login-button")
        page.wait_for_selector("#login-error:not(:empty)")
        assert page.inner_text("#login-error") == page_messages("zh-CN")["messages"][
            "login.rejected"]
        # the switch: choosing English reloads the page in English and keeps it
        page.select_option("#locale-switch", "en")
        page.wait_for_url(re.compile(r"locale=en"))
        assert page.evaluate("document.documentElement.lang") == "en"
        page.goto(f"{server.url}/explore/login")
        assert page.inner_text("#login-button") == MESSAGES["login.submit"]
    finally:
        context.close()


def test_chinese_glyphs_render(server: Server, browser: Any) -> None:
    page = Page(browser, server, "admin", locale="zh-CN")
    try:
        # the font Chromium actually used for the heading's Chinese characters
        cdp = page.context.new_cdp_session(page.page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        heading = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "h1"})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": heading})["fonts"]
        assert any("CJK" in f["familyName"] and f["glyphCount"] >= 4 for f in fonts), fonts
        # and on a canvas with the page's font, as the graph's labels are drawn: each
        # character has its own glyph, unlike a missing one (the same box, or nothing)
        glyphs = page.page.evaluate("""() => {
            const font = "24px " + getComputedStyle(document.body).fontFamily;
            const draw = (text) => {
                const canvas = document.createElement("canvas");
                canvas.width = 40; canvas.height = 40;
                const ctx = canvas.getContext("2d");
                ctx.font = font; ctx.fillStyle = "#000"; ctx.textBaseline = "top";
                ctx.fillText(text, 4, 4);
                const pixels = ctx.getImageData(0, 0, 40, 40).data;
                let ink = 0, hash = 0;
                for (let i = 3; i < pixels.length; i += 4) {
                    ink += pixels[i] > 0; hash = (hash * 31 + pixels[i]) | 0;
                }
                return { ink, hash, width: ctx.measureText(text).width };
            };
            return { chars: ["交", "往", "圈", "离", "网"].map(draw),
                     missing: draw("\\u{10FFFD}") };
        }""")
        chars, missing = glyphs["chars"], glyphs["missing"]
        assert len({c["hash"] for c in chars}) == len(chars)  # five different glyphs
        assert all(c["hash"] != missing["hash"] and c["ink"] > 20 for c in chars)
        assert all(20 <= c["width"] <= 28 for c in chars)  # full-width, one em each
        assert page.errors == []
    finally:
        page.close()


def test_legend_says_what_colour_size_and_width_encode(server: Server, browser: Any) -> None:
    page = Page(browser, server, "analyst", locale="zh-CN")
    try:
        legend = page.page.inner_text("#legend")
        zh = page_messages("zh-CN")["messages"]
        for key in ("legend.colour", "legend.size", "legend.edge", "legend.churned",
                    "legend.offnet", "legend.influencer", "legend.unknown"):
            assert zh[key] in legend
        assert "流失风险" in legend and "客户生命周期价值" in legend and "交往强度" in legend
        # the samples are drawn: a small and a large disc, a thin and a thick line
        sizes = page.page.evaluate("""() => ["small", "large", "thin", "thick"].map(c => {
            const r = document.querySelector(`#legend .${c}`).getBoundingClientRect();
            return [r.width, r.height]; })""")
        assert sizes[0][0] < sizes[1][0] and sizes[2][1] < sizes[3][1]
    finally:
        page.close()


def assert_no_overlap(boxes: list[dict[str, Any]], width: float, height: float) -> None:
    for box in boxes:
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        assert box["y"] >= 0 and box["y"] + box["height"] <= height
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                     or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
            assert apart, (a, b)


def label_boxes_at(page: Page, ratio: float) -> tuple[list[dict[str, Any]], int, float, float]:
    """The labels drawn at a zoom ratio, how many numbers wanted one, and the view's size.

    Each box is checked against the labels' canvas: text was drawn inside it."""
    boxes, candidates, width, height, blank = page.page.evaluate("""ratio => {
        const r = window.explorer.renderer;
        r.getCamera().setState({ x: 0.5, y: 0.5, ratio, angle: 0 });
        r.refresh();
        const { width, height } = r.getDimensions();
        const canvas = r.getCanvases().labels, scale = canvas.width / width;
        const context = canvas.getContext("2d");
        const boxes = window.explorer.labels;
        const blank = boxes.filter((b) => !context.getImageData(
            Math.floor(b.x * scale), Math.floor(b.y * scale), Math.ceil(b.width * scale),
            Math.ceil(b.height * scale)).data.some((v, i) => i % 4 === 3 && v > 0));
        return [boxes, window.explorer.labelCandidates(), width, height, blank.length];
    }""", ratio)
    assert blank == 0  # every box holds its drawn text
    return boxes, candidates, width, height


def test_labels_never_overlap(server: Server, browser: Any) -> None:
    page = Page(browser, server, "admin", locale="zh-CN")
    try:
        circle = _largest_circle(server)
        page.search(circle["circleId"], "circle")
        shown = 0
        for ratio in (2.0, 1.0, 0.5, 0.25):
            boxes, candidates, width, height = label_boxes_at(page, ratio)
            assert_no_overlap(boxes, width, height)
            assert len(boxes) <= candidates
            shown = max(shown, len(boxes))
        assert shown >= 3  # labels are drawn, not all hidden
        page.shot("labels-zh-CN")
    finally:
        page.close()


def test_keyboard_moves_opens_and_closes(server: Server, browser: Any) -> None:
    page = Page(browser, server, "analyst")
    try:
        p = page.page
        active = "() => document.activeElement.id || document.activeElement.dataset.circle || ''"
        first = p.evaluate("document.querySelector('#risky-circles li').dataset.circle")
        for _ in range(30):  # Tab from the top of the page to the first circle of the list
            p.keyboard.press("Tab")
            if p.evaluate(active) == first:
                break
        assert p.evaluate(active) == first
        assert p.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        p.keyboard.press("ArrowDown")
        second = p.evaluate("document.querySelectorAll('#risky-circles li')[1].dataset.circle")
        assert p.evaluate(active) == second
        p.keyboard.press("Enter")
        page.wait("c => document.getElementById('circle-id').textContent === c", second)
        for _ in range(40):
            p.keyboard.press("Tab")
            if p.evaluate(active) == "graph":
                break
        assert p.evaluate(active) == "graph"
        assert p.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        p.keyboard.press("ArrowRight")
        page.wait("() => window.explorer.focused !== null")
        position = """n => { const { graph, renderer } = window.explorer;
            return renderer.graphToViewport(graph.getNodeAttributes(n)); }"""
        moves = 0
        for key, axis, sign in (("ArrowRight", "x", 1), ("ArrowDown", "y", 1),
                                ("ArrowLeft", "x", -1), ("ArrowUp", "y", -1)):
            before = p.evaluate("window.explorer.focused")
            was = p.evaluate(position, before)
            p.keyboard.press(key)
            after = p.evaluate("window.explorer.focused")
            if after != before:
                now = p.evaluate(position, after)
                assert (now[axis] - was[axis]) * sign > 0, (key, was, now)
                moves += 1
        assert moves >= 2
        focused = p.evaluate("window.explorer.focused")
        p.keyboard.press("Enter")
        page.wait("n => document.getElementById('node-panel').dataset.node === n "
                  "&& !document.getElementById('node-panel').hidden", focused)
        assert p.evaluate(active) == "graph"  # the keyboard stays on the graph
        page.shot("keyboard-en")
        p.keyboard.press("Escape")
        page.wait("() => document.getElementById('node-panel').hidden")
        assert p.evaluate("window.explorer.selected") is None
        assert page.errors == []
    finally:
        page.close()


MONEY = [0, 7.4, 99.5, 100.5, 9999, 9999.4, 9999.5, 10000, 12345, 12500, 12501, 15000,
         99999, 100000, 123456, 1_000_000, 12_345_678, 123_456_789, -52.5, -25000]
MONTHS = [date(2026, 7, 1), date(2026, 1, 31), date(2025, 12, 1), date(2030, 10, 15)]


def test_money_and_months_as_graph_locales_writes_them(server: Server, browser: Any) -> None:
    page = Page(browser, server, "analyst")
    try:
        for locale in ("en", "zh-CN"):
            money = page.page.evaluate("([values, loc]) => values.map("
                                       "v => window.explorer.format.money(v, loc))",
                                       [MONEY, locale])
            assert money == [format_money(v, locale) for v in MONEY]
            months = page.page.evaluate("([values, loc]) => values.map("
                                        "v => window.explorer.format.month(v, loc))",
                                        [[m.isoformat() for m in MONTHS], locale])
            assert months == [format_month(m, locale) for m in MONTHS]
        assert format_money(12345, "zh-CN") == "¥1.2万" and format_month(MONTHS[0], "zh-CN"
                                                                        ) == "2026年7月"
    finally:
        page.close()
