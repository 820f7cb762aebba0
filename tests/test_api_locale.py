"""The API's words in the caller's language: churn reasons, value tiers, segment profiles, tag
labels and schemes, KPI names, by `locale` argument, by Accept-Language or by the server's
`locale:`; over a real uvicorn server and HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import (  # noqa: E402
    CUTOFFS,
    Server,
    data,
    gql,
    start_server,
    stop_server,
    write_config,
    write_snapshot,
)
from test_locales import has_chinese  # noqa: E402

from api.settings import Settings  # noqa: E402
from graph.catalogue import dump_reasons  # noqa: E402
from graph.snapshot import SnapshotStore  # noqa: E402
from insight.tags import parse_library, save_library  # noqa: E402

pytest_plugins = ["api_fixtures"]

REASONS = dump_reasons([
    {"feature": "arrears", "value": 12_345.0, "contribution": 0.8, "text": "arrears of ¥12345"},
    {"feature": "churned_tie_share", "value": 0.42, "contribution": 0.3,
     "text": "42% of their calling went to people who left"}])
LIBRARY = """
name: operator
features:
  spends: {measure: revenue, op: '>=', value: 10, label: bill of 100 or more}
  risky: {measure: churn_risk, op: '>=', value: 0.5, label: churn probability 30% or more}
tags:
  even: {scheme: campus_life, label: even customers, when: spends, labels: {zh-CN: 偶数客户}}
  at_risk: {scheme: network, label: circle at risk, when: risky}
"""
CARD = """query($id: String!, $locale: String) {
  customer(customerId: $id) {
    churnRisk { reasons zh: reasons(locale: "zh-CN") en: reasons(locale: "en")
                asked: reasons(locale: $locale) }
    value { valueTier }
    segment { profile }
  }
  customerTags(customerId: $id) { tag label scheme schemeName }
  tagLibrary { rules { tag label scheme schemeName } features { name label } }
  segments { segmentId profile en: profile(locale: "en") }
  kpis(measures: [CHURN_RATE], by: [VALUE_TIER]) { measures { measure label }
                                                     dimensions { dimension label value
                                                                  valueLabel } }
}"""


def _serve(root: Path, **config: object) -> Server:
    store = SnapshotStore(root / "data")
    snapshot = write_snapshot(store, "locale-test", tags=True)
    with duckdb.connect(str(snapshot.warehouse_path)) as con:
        con.execute("UPDATE churn_scores SET reasons = ?", [REASONS])
        con.execute("""UPDATE customer_value SET value_tier = CASE value_tier
            WHEN 'top' THEN 'platinum' WHEN 'high' THEN 'gold' WHEN 'medium' THEN 'silver'
            WHEN 'low' THEN 'bronze' ELSE 'basic' END""")
        con.execute("UPDATE segments SET profile = 'prepaid, heavy night calls, low data' "
                    "WHERE segment_id = 2")
        con.execute("""CREATE TABLE tag_rules AS SELECT * FROM (VALUES
            (?::DATE, 'even', 'even.v1', 1, 'even customers', 'campus_life', 'spends',
             ['spends']),
            (?::DATE, 'at_risk', 'at_risk.v2', 2, 'circle at risk', 'network', 'risky',
             ['risky'])) t(cutoff, tag_id, rule_id, rule_version, label, scheme, expression,
                           features)""", [CUTOFFS[-1], CUTOFFS[-1]])
    save_library(store, parse_library(LIBRARY))
    return start_server(root / "data", write_config(root / "api.yaml", **config),
                        root / "server.log")


@pytest.fixture(scope="module")
def english_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _serve(tmp_path_factory.mktemp("locale-en"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def chinese_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose api.yaml says `locale: zh-CN`."""
    server = _serve(tmp_path_factory.mktemp("locale-zh"), locale="zh-CN")
    yield server
    stop_server(server)


def _card(server: Server, locale: str | None = None, **headers: str) -> dict:
    with server.client("analyst", **headers) as client:
        return data(client, CARD, id="C0002", locale=locale)


def test_english_unless_asked(english_server: Server) -> None:
    card = _card(english_server)
    risk = card["customer"]["churnRisk"]
    assert risk["reasons"] == risk["en"] == risk["asked"] == [
        "arrears of ¥12345", "42% of their calling went to people who left"]  # as stored
    assert risk["zh"] == ["欠费¥1.2万", "42%的通话对象已离网"]
    assert card["customer"]["value"]["valueTier"] == "silver"  # C0002: TIERS[2] medium → silver
    assert card["customer"]["segment"]["profile"] == "prepaid, heavy night calls, low data"
    tags = {t["tag"]: t for t in card["customerTags"]}
    assert tags["even"]["label"] == "even customers"
    assert tags["even"]["schemeName"] == "campus life"
    assert tags["at_risk"]["label"] == "circle at risk"
    assert tags["at_risk"]["schemeName"] == "network"
    assert {r["tag"]: r["label"] for r in card["tagLibrary"]["rules"]} == {
        "even": "even customers", "at_risk": "circle at risk"}
    assert card["kpis"][0]["measures"][0]["label"] == "churn rate"
    assert card["kpis"][0]["dimensions"][0]["label"] == "value tier"
    cells = [c for row in card["kpis"] for c in row["dimensions"]]
    assert all(c["valueLabel"] == c["value"] for c in cells)  # English: the tier as stored
    assert {"silver", None} <= {c["value"] for c in cells}


def test_chinese_by_accept_language(english_server: Server) -> None:
    card = _card(english_server, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    risk = card["customer"]["churnRisk"]
    assert risk["reasons"] == risk["asked"] == risk["zh"] == ["欠费¥1.2万", "42%的通话对象已离网"]
    assert risk["en"] == ["arrears of ¥12345", "42% of their calling went to people who left"]
    assert card["customer"]["value"]["valueTier"] == "银卡"
    assert card["customer"]["segment"]["profile"] == "预付费，夜间通话多，流量用得少"
    tags = {t["tag"]: t for t in card["customerTags"]}
    assert tags["even"]["label"] == "偶数客户"  # the rule's own label
    assert tags["even"]["scheme"] == "campus_life"  # identifiers stay
    assert tags["at_risk"]["label"] == "交往圈流失风险"  # the catalog's
    assert tags["at_risk"]["schemeName"] == "交往圈"
    rules = {r["tag"]: r for r in card["tagLibrary"]["rules"]}
    assert rules["even"]["label"] == "偶数客户" and rules["at_risk"]["schemeName"] == "交往圈"
    assert {f["name"]: f["label"] for f in card["tagLibrary"]["features"]} == {
        "spends": "月账单100元及以上", "risky": "流失概率30%及以上"}
    by_id = {s["segmentId"]: s for s in card["segments"]}
    assert by_id["2"]["profile"] == "预付费，夜间通话多，流量用得少"
    assert by_id["2"]["en"] == "prepaid, heavy night calls, low data"
    assert by_id["0"]["profile"] == by_id["0"]["en"] == "heavy callers"  # the operator's own
    assert card["kpis"][0]["measures"][0]["label"] == "离网率"
    assert card["kpis"][0]["dimensions"][0]["label"] == "价值分层"
    tiers = {c["value"]: c["valueLabel"] for row in card["kpis"] for c in row["dimensions"]}
    assert tiers["silver"] == "银卡" and tiers[None] is None  # a subtotal has no value
    assert all(has_chinese(label) for value, label in tiers.items() if value is not None)
    # a language callcircle does not speak falls through to the next, else the default
    assert _card(english_server, **{"Accept-Language": "fr-FR, zh;q=0.5"}
                 )["customer"]["value"]["valueTier"] == "银卡"
    assert _card(english_server, **{"Accept-Language": "fr-FR"}
                 )["customer"]["value"]["valueTier"] == "silver"


def test_chinese_by_argument(english_server: Server) -> None:
    card = _card(english_server, locale="zh_CN")
    assert card["customer"]["churnRisk"]["asked"] == ["欠费¥1.2万", "42%的通话对象已离网"]
    assert card["customer"]["churnRisk"]["reasons"][0] == "arrears of ¥12345"
    with english_server.client("analyst") as client:
        found = data(client, """{ customer(customerId: "C0002") {
            value { valueTier(locale: "zh-CN") } segment { profile(locale: "zh-CN") } }
          customerTags(customerId: "C0002") { label(locale: "zh-CN")
                                              schemeName(locale: "zh-CN") } }""")
    assert found["customer"]["value"]["valueTier"] == "银卡"
    assert has_chinese(found["customer"]["segment"]["profile"])
    assert all(has_chinese(t["label"]) for t in found["customerTags"])
    assert [t["schemeName"] for t in found["customerTags"]] == ["交往圈", "campus life"]
    with english_server.client("analyst") as client:
        cube = data(client, """{ kpis(measures: [ACTIVE_CUSTOMERS], by: [MONTH, PLAN]) {
            dimensions { dimension value zh: valueLabel(locale: "zh-CN") en: valueLabel } } }""")
    cells = [c for row in cube["kpis"] for c in row["dimensions"] if c["value"] is not None]
    months = [c for c in cells if c["dimension"] == "month"]
    assert months and all(c["zh"] == f"{c['value'][:4]}年{int(c['value'][5:])}月"
                          for c in months)
    assert all(c["en"].split()[-1] == c["value"][:4] for c in months)  # "July 2026"
    plans = [c for c in cells if c["dimension"] == "plan"]
    assert plans and all(c["zh"] == c["en"] == c["value"] for c in plans)  # the operator's


def test_the_server_default_from_its_config(chinese_server: Server) -> None:
    card = _card(chinese_server)
    assert card["customer"]["churnRisk"]["reasons"] == ["欠费¥1.2万", "42%的通话对象已离网"]
    assert card["customer"]["value"]["valueTier"] == "银卡"
    english = _card(chinese_server, **{"Accept-Language": "en-GB"})  # the header wins
    assert english["customer"]["value"]["valueTier"] == "silver"
    assert english["customer"]["churnRisk"]["zh"] == ["欠费¥1.2万", "42%的通话对象已离网"]
    assert _card(chinese_server, locale="en")["customer"]["churnRisk"]["asked"] == [
        # and the argument wins over both
        "arrears of ¥12345", "42% of their calling went to people who left"]


def test_an_unknown_locale_is_refused(english_server: Server) -> None:
    with english_server.client("analyst") as client:
        body = gql(client, '{ customer(customerId: "C0002") { churnRisk { '
                           'reasons(locale: "fr") } } }')
        assert body["errors"][0]["message"] == "unknown locale 'fr': use one of en, zh-CN"
        assert body["errors"][0]["path"] == ["customer", "churnRisk", "reasons"]
        body = gql(client, '{ segments { profile(locale: "zh-TW") } }')
        assert "unknown locale 'zh-TW'" in body["errors"][0]["message"]


def test_locale_in_the_config_and_environment(tmp_path: Path) -> None:
    assert Settings.from_mapping({}).locale == "en"
    assert Settings.from_mapping({"locale": "zh_CN"}).locale == "zh-CN"
    config = tmp_path / "api.yaml"
    config.write_text("locale: zh-CN\n", encoding="utf-8")
    assert Settings.load(config, environ={}).locale == "zh-CN"
    assert Settings.load(config, environ={"CALLCIRCLE_LOCALE": "en"}).locale == "en"
    assert Settings.load(None, environ={"CALLCIRCLE_LOCALE": "zh"}).locale == "zh-CN"
    with pytest.raises(ValueError, match="locale: unknown locale 'fr'"):
        Settings.from_mapping({"locale": "fr"})
    with pytest.raises(ValueError, match="CALLCIRCLE_LOCALE: unknown locale 'de'"):
        Settings.load(None, environ={"CALLCIRCLE_LOCALE": "de"})
