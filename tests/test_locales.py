"""Locales: the zh-CN catalog is complete and current, and reasons, money and months read."""

from __future__ import annotations

import string
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from babel.messages.pofile import read_po

from graph.locales import (
    LOCALES,
    POT_FILE,
    extract,
    format_money,
    format_month,
    negotiate,
    normalize,
    po_file,
    translator,
)
from insight.churn import PHRASES, ChurnRiskModel, describe_feature
from insight.kpis import DIMENSIONS, LABELS, MEASURES, localized

SAMPLE = 0.25
"""A value every field formats: fixed-point, percent, general, grouped and plain."""


def _fields(text: str) -> list[tuple[str, str]]:
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(text)
                  if name is not None)


def _catalog(locale: str):
    with open(po_file(locale), "rb") as handle:
        return read_po(handle, locale=locale.replace("-", "_"))


def has_chinese(text: str) -> bool:
    """Whether ``text`` holds a CJK unified ideograph (the zh-CN catalog's words)."""
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
def test_every_message_is_translated_and_none_is_fuzzy(locale: str) -> None:
    catalog = _catalog(locale)
    messages = [m for m in catalog if m.id]
    assert messages
    untranslated = [m.id for m in messages if not m.string]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert untranslated == [] and fuzzy == []
    for message in messages:
        # the translation keeps the phrase's value fields, and formats like it
        assert _fields(message.string) == _fields(message.id), message.id
        message.string.format(**{name: SAMPLE for name, _ in _fields(message.id)})


def test_the_template_and_catalogs_are_current_with_the_code() -> None:
    extracted = [m.id for m in extract() if m.id]
    with open(POT_FILE, "rb") as handle:
        template = [m.id for m in read_po(handle) if m.id]
    assert template == extracted  # else run python -m graph.locales
    assert set(PHRASES.values()) <= set(extracted)  # every reason phrase is a message
    for locale in LOCALES:
        if locale != "en":
            assert sorted(m.id for m in _catalog(locale) if m.id) == sorted(extracted)


def test_reason_phrases_in_chinese_and_english_unchanged() -> None:
    zh = translator("zh-CN")
    for name, phrase in PHRASES.items():
        translated = zh.gettext(phrase)
        assert translated != phrase, phrase
        assert has_chinese(translated), translated
        assert describe_feature(name, 0.25) == phrase.format(v=0.25)
        assert describe_feature(name, 0.25, locale="en") == phrase.format(v=0.25)
        assert describe_feature(name, 0.25, locale="zh-CN") == translated.format(v=0.25)
    assert describe_feature("churned_tie_share", 0.42, locale="zh-CN") == "42%的通话对象已离网"
    assert describe_feature("arrears", 120.4, locale="zh_CN") == "欠费¥120"
    assert describe_feature("arrears", float("nan"), locale="zh-CN") == "欠费：未知"
    assert describe_feature("arrears", float("nan")) == "arrears: unknown"


def test_churn_reasons_in_a_locale_explain_the_same_features() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    X = pd.DataFrame({"complaints_30d": rng.poisson(0.5, n), "arrears": rng.exponential(50, n),
                      "churned_tie_share": rng.random(n)})
    logit = -3 + 0.9 * X["complaints_30d"] + 0.01 * X["arrears"] + 2 * X["churned_tie_share"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    model = ChurnRiskModel(n_estimators=40, min_child_samples=30).fit(X, y)
    head = X.head(50)
    english, chinese = model.reasons(head), model.reasons(head, locale="zh-CN")
    assert english == model.reasons(head, locale="en")
    assert len(english) == len(chinese) == 50
    zh = translator("zh-CN")
    for en_row, zh_row in zip(english, chinese, strict=True):
        assert [(r["feature"], r["value"], r["contribution"]) for r in en_row] == \
            [(r["feature"], r["value"], r["contribution"]) for r in zh_row]
        for en_reason, zh_reason in zip(en_row, zh_row, strict=True):
            phrase = PHRASES[en_reason["feature"]]
            assert en_reason["text"] == phrase.format(v=en_reason["value"])
            assert zh_reason["text"] == zh.gettext(phrase).format(v=zh_reason["value"])
            assert zh_reason["text"] != en_reason["text"]


def test_money_in_yuan_and_wan() -> None:
    assert format_money(12_345, "zh-CN") == "¥1.2万"
    assert format_money(10_000, "zh-CN") == "¥1万"
    assert format_money(9_999.6, "zh-CN") == "¥1万"  # rounded to the yuan first
    assert format_money(9_876, "zh-CN") == "¥9,876"
    assert format_money(-25_000, "zh-CN") == "-¥2.5万"
    assert format_money(3_456_000, "zh-CN") == "¥345.6万"
    assert format_money(12_345) == "¥12,345"
    assert format_money(12_345, "en") == "¥12,345"


def test_months() -> None:
    assert format_month(date(2026, 7, 9), "zh-CN") == "2026年7月"
    assert format_month(date(2026, 12, 1), "zh-CN") == "2026年12月"
    assert format_month(date(2026, 7, 9)) == "July 2026"


def test_accept_language_and_locale_names() -> None:
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert negotiate("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert negotiate("fr-FR, zh;q=0.5") == "zh-CN"  # French not spoken: the next one
    assert negotiate("en;q=0.3, zh-Hans;q=0.6") == "zh-CN"  # by weight, not order
    assert negotiate("zh-CN;q=0, en") == "en"  # q=0 means not acceptable
    assert negotiate("zh-TW") == "en"  # traditional Chinese is not served by zh-CN
    assert negotiate(None) == negotiate("") == negotiate("*") == "en"
    assert normalize("zh_CN") == normalize("zh-cn") == normalize("zh") == "zh-CN"
    assert normalize(None) == normalize("en-GB") == "en"
    with pytest.raises(ValueError, match="unknown locale"):
        normalize("fr")


def test_the_report_command_refuses_a_locale_it_does_not_speak(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    refused = CliRunner().invoke(app, ["report", "--data-dir", str(tmp_path), "--locale", "fr"])
    assert refused.exit_code == 2
    assert "unknown locale" in refused.output


def test_kpis_read_in_chinese() -> None:
    frame = pd.DataFrame({
        "month": [date(2026, 7, 1), date(2026, 7, 1), None],
        "value_tier": ["gold", "tier 6", None],
        "revenue": [123_456.0, 9_876.0, 133_332.0],
        "churn_rate": [0.02, 0.03, 0.025],
        "rolled_up": [[], [], ["month", "value_tier"]],
    })
    assert localized(frame) is frame and localized(frame, "en") is frame
    shown = localized(frame, "zh-CN")
    assert list(shown.columns) == ["月份", "价值分层", "收入", "离网率", "小计维度"]
    assert shown["月份"].tolist()[:2] == ["2026年7月", "2026年7月"]
    assert shown["价值分层"].tolist()[:2] == ["金卡", "tier 6"]  # not a catalog tier: as is
    assert shown[["月份", "价值分层"]].iloc[2].isna().all()  # a subtotal row stays blank
    assert shown["收入"].tolist() == ["¥12.3万", "¥9,876", "¥13.3万"]
    assert shown["离网率"].tolist() == frame["churn_rate"].tolist()
    assert shown["小计维度"].tolist() == [[], [], ["月份", "价值分层"]]
    assert set(LABELS) >= {*MEASURES, *DIMENSIONS}


def test_the_churn_evaluation_table_in_chinese() -> None:
    from api.commands import metrics_table

    evaluation = {"kind": "time split", "rows": 12_345, "churners": 678, "metrics": [
        {"model": "boosted", "features": "with graph", "roc_auc": 0.81, "pr_auc": 0.33}]}
    english, chinese = metrics_table(evaluation), metrics_table(evaluation, "zh-CN")
    assert english.title == "churn model evaluation (time split, 12,345 subscribers, 678 churners)"
    assert chinese.title == "流失模型评估（按时间切分，12,345个用户，678个流失用户）"
    assert [c.header for c in english.columns] == ["model", "features", "roc_auc", "pr_auc"]
    assert [c.header for c in chinese.columns] == ["模型", "特征集", "ROC AUC", "PR AUC"]
    assert list(english.columns[0].cells) == ["boosted"]
    assert list(english.columns[1].cells) == ["with graph"]
    assert list(chinese.columns[0].cells) == ["梯度提升"]
    assert list(chinese.columns[1].cells) == ["含交往圈特征"]
    assert list(chinese.columns[2].cells) == list(english.columns[2].cells) == ["0.810"]
    one_shot = metrics_table({**evaluation, "kind": "stratified CV"}, "zh-CN")
    assert one_shot.title == "流失模型评估（分层交叉验证，12,345个用户，678个流失用户）"


def test_money_in_reasons_reads_in_wan() -> None:
    from graph.catalogue import dump_reasons
    from insight.churn import reasons_in

    assert describe_feature("arrears", 12_345, locale="zh-CN") == "欠费¥1.2万"
    assert describe_feature("arrears", 9_876.4, locale="zh-CN") == "欠费¥9,876"
    assert describe_feature("TotalCharges", 3_456_000, locale="zh-CN") == "累计出账¥345.6万"
    assert describe_feature("arrears", 12_345) == "arrears of ¥12345"  # English as it was
    stored = dump_reasons([
        {"feature": "arrears", "value": 25_000.0, "contribution": 0.5, "text": "arrears of ¥25000"},
        {"feature": "churned_tie_share", "value": 0.42, "contribution": 0.3,
         "text": "42% of their calling went to people who left"}])
    assert reasons_in(stored) == reasons_in(stored, "en") == [
        "arrears of ¥25000", "42% of their calling went to people who left"]
    assert reasons_in(stored, "zh-CN") == ["欠费¥2.5万", "42%的通话对象已离网"]
    assert reasons_in(None, "zh-CN") == []


def test_the_starter_tags_and_schemes_read_in_chinese() -> None:
    from insight.tags import SCHEMES, label_in, scheme_name, starter_library

    library = starter_library()
    labels = [t.label for t in library.tags.values()] + [
        f.label for f in library.features.values()]
    for label in labels:
        assert label_in(label, "en") == label
        assert has_chinese(label_in(label, "zh-CN")), label
    assert label_in("night owl", "zh-CN") == "夜猫子"
    assert {t.scheme for t in library.tags.values()} <= set(SCHEMES)
    for scheme in SCHEMES:
        assert has_chinese(scheme_name(scheme, "zh-CN")), scheme
    assert scheme_name("revenue_contribution") == "revenue contribution"
    assert scheme_name("lifecycle", "zh-CN") == "生命周期"
    assert scheme_name("campus_life", "zh-CN") == "campus life"  # the operator's own scheme


def test_a_rule_carries_its_own_chinese_label() -> None:
    from insight.tags import (
        RuleError,
        label_in,
        library_from_turtle,
        library_to_turtle,
        parse_library,
    )

    library = parse_library("""
features:
  on_campus: {measure: revenue, op: '>=', value: 10, label: spends on campus,
              labels: {zh_CN: 校园消费}}
tags:
  student: {when: on_campus, label: student, labels: {zh-CN: 校园客户}}
""")
    tag, feature = library.tags["student"], library.features["on_campus"]
    assert label_in(tag.label, "zh-CN", tag.labels) == "校园客户"
    assert label_in(tag.label, "en", tag.labels) == "student"
    assert label_in(feature.label, "zh-CN", feature.labels) == "校园消费"
    assert library_from_turtle(library_to_turtle(library)) == library
    assert parse_library(library.to_yaml()) == library
    with pytest.raises(RuleError, match=r"tag 'student'.*unknown locale 'fr'"):
        parse_library({"features": {"f": {"measure": "revenue", "op": ">=", "value": 1}},
                       "tags": {"student": {"when": "f", "labels": {"fr": "étudiant"}}}})


def test_segment_profiles_read_in_chinese() -> None:
    from insight.segments import SEGMENT_WORDS, describe_segment, profile_in

    z = pd.Series({"night_calls": 1.5, "data_mb": -1.2, "tenure_months": 0.9,
                   "circle_size": 0.7, "contacts": 0.1})
    profile = describe_segment(z, {"payment_type": ("prepaid", 0.9)})
    assert profile == "prepaid, heavy night calls, low data, long-standing, high circle size"
    assert profile_in(profile) == profile_in(profile, "en") == profile
    assert profile_in(profile, "zh-CN") == "预付费，夜间通话多，流量用得少，老用户，交往圈规模偏高"
    assert profile_in(describe_segment(z * 0), "zh-CN") == "各项指标均处于平均水平"
    assert profile_in("the night-owl students", "zh-CN") == "the night-owl students"  # own words
    assert profile_in(None, "zh-CN") is None
    for high, low in SEGMENT_WORDS.values():
        assert has_chinese(profile_in(high, "zh-CN")) and has_chinese(profile_in(low, "zh-CN"))


def test_the_capacity_table_in_chinese() -> None:
    from api.commands import capacity_table

    capacity = {"best_params": {"num_leaves": 7}, "candidates": 2, "folds": 3, "seconds": 4.25,
                "complete": False, "cv_results": [
                    {"stage": "shape", "num_leaves": 7, "min_child_samples": 20,
                     "reg_lambda": 1.0, "learning_rate": 0.2, "n_estimators": 40,
                     "cv_log_loss": 0.1, "cv_roc_auc": 0.8, "cv_pr_auc": 0.3},
                    {"stage": "regularisation", "num_leaves": 15, "min_child_samples": 20,
                     "reg_lambda": 10.0, "learning_rate": 0.2, "n_estimators": 30,
                     "cv_log_loss": 0.2, "cv_roc_auc": 0.7, "cv_pr_auc": 0.2}]}
    english, chinese = capacity_table(capacity), capacity_table(capacity, "zh-CN")
    assert english.title == ("churn model capacity (2 candidates, 3 internal folds, 4.2s, "
                             "time budget reached)")
    assert [c.header for c in english.columns] == [
        "stage", "leaves", "min rows", "L2", "rate", "trees", "CV log loss", "CV AUC",
        "CV PR AUC"]
    assert list(english.columns[0].cells) == ["shape", "regularisation"]
    assert chinese.title == "流失模型容量（2组候选参数，3折内部验证，4.2秒，已达时间预算）"
    assert [c.header for c in chinese.columns][:3] == ["阶段", "叶子数", "叶子最少样本"]
    assert list(chinese.columns[0].cells) == ["树形", "正则化"]
    assert list(chinese.columns[6].cells) == list(english.columns[6].cells) == [
        "0.1000", "0.2000"]


def test_every_feature_has_a_display_name_in_chinese() -> None:
    from graph.catalogue import FEATURES, feature_label

    assert all(f.label for f in FEATURES.values())
    labels = {name: feature_label(name, "zh-CN") for name in FEATURES}
    assert all(has_chinese(label) for label in labels.values()), labels
    assert len(set(labels.values())) == len(labels)  # no two features read the same
    assert labels["circle_size"] == "交往圈规模" and labels["arrears"] == "欠费"
    assert labels["churned_neighbour_share"] == "离网联系人占比"
    assert feature_label("circle_size") == "circle size"  # English: the msgid
    assert feature_label("roaming_calls", "zh-CN") == "roaming calls"  # undeclared: as named


def test_a_profile_and_a_reason_without_words_of_their_own_name_the_feature() -> None:
    from insight.segments import SEGMENT_WORDS, describe_segment, profile_in

    assert "circle_size" not in SEGMENT_WORDS and "arpu_last" not in SEGMENT_WORDS
    profile = describe_segment(pd.Series({"circle_size": 1.2, "arpu_last": -0.9}))
    assert profile == "high circle size, low last bill"
    assert profile_in(profile, "zh-CN") == "交往圈规模偏高，上月账单偏低"
    # profiles stored before the display names read the column with spaces
    assert profile_in("high arpu last, low churned tie share", "zh-CN") == \
        "上月账单偏高，与离网者通话占比偏低"
    assert describe_feature("percent_nocturnal", 0.2) == "percent nocturnal: 0.2"  # as it was
    assert describe_feature("percent_nocturnal", 0.2, locale="zh-CN") == "夜间通信占比：0.2"
    assert describe_feature("percent_nocturnal", None, locale="zh-CN") == "夜间通信占比：未知"


def test_kpi_values_callcircle_names_read_in_chinese() -> None:
    from insight.kpis import PLACEHOLDERS, value_label

    assert value_label("value_tier", "gold", "zh-CN") == "金卡"
    assert value_label("month", "2026-07", "zh-CN") == "2026年7月"
    assert value_label("month", date(2026, 7, 1)) == "July 2026"
    assert value_label("segment", "unsegmented", "zh-CN") == "未分群"
    assert value_label("circle_size_band", "no circle", "zh-CN") == "无交往圈"
    assert value_label("circle_size_band", "5-9", "zh-CN") == "5-9"
    assert all(has_chinese(value_label(d, v, "zh-CN")) for d, v in PLACEHOLDERS.items())
    # the operator's own values stay as exported, and English is the value itself
    assert value_label("plan", "4G Max 128", "zh-CN") == "4G Max 128"
    assert value_label("channel", "store", "zh-CN") == "store"
    assert value_label("segment", "unsegmented") == "unsegmented"
    assert value_label("value_tier", None, "zh-CN") is None
    frame = pd.DataFrame({"segment": ["3", "unsegmented"], "channel": ["none", "app"],
                          "churn_rate": [0.1, 0.2]})
    shown = localized(frame, "zh-CN")
    assert shown["客户细分"].tolist() == ["3", "未分群"]
    assert shown["渠道"].tolist() == ["暂无", "app"]


def test_a_long_table_says_how_much_it_shows_in_the_locale() -> None:
    from api.commands import frame_table

    frame = pd.DataFrame({"n": range(50), "rolled_up": [["month", "plan"]] * 50})
    english, chinese = frame_table(frame, "t"), frame_table(frame, "t", locale="zh-CN")
    assert english.caption == "first 40 of 50 rows"
    assert chinese.caption == "共50行，显示前40行"
    assert next(iter(english.columns[1].cells)) == "month, plan"
    assert next(iter(chinese.columns[1].cells)) == "month、plan"
