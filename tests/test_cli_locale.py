"""The commands in zh-CN: `--locale`, else $CALLCIRCLE_LOCALE, else English as it was."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from test_cli_tables import _campaign_snapshot
from test_locales import has_chinese
from typer.testing import CliRunner

from api.cli import app
from api.commands import tags_table
from insight.tags import parse_library, starter_library


def _campaigns(root: Path, *args: str, **env: str) -> str:
    shown = CliRunner().invoke(app, ["campaigns", "--data-dir", str(root), *args], env=env)
    assert shown.exit_code == 0, shown.output
    return shown.output


def test_campaigns_in_chinese_by_flag_or_environment(tmp_path: Path) -> None:
    _campaign_snapshot(tmp_path)
    english = _campaigns(tmp_path)
    assert "campaigns: treated vs control (Newcombe 95% interval)" in english
    assert not has_chinese(english)
    assert _campaigns(tmp_path, "--locale", "en") == english
    chinese = _campaigns(tmp_path, "--locale", "zh-CN")
    assert "营销活动：目标组对比对照组（Newcombe 95%区间）" in chinese
    header = next(line for line in chinese.splitlines() if "营销活动" in line and "┃" in line)
    for column in ("目标组", "对照组", "响应率（目标组）", "增量收入", "成本", "投资回报率"):
        assert column in header
    assert "C2026-07-RETENTION-POSTPAID-BEIJING" in chinese  # ids are data, as they are
    assert _campaigns(tmp_path, CALLCIRCLE_LOCALE="zh-CN") == chinese
    assert _campaigns(tmp_path, "--locale", "en", CALLCIRCLE_LOCALE="zh_CN") == english
    refused = CliRunner().invoke(app, ["campaigns", "--data-dir", str(tmp_path)],
                                 env={"CALLCIRCLE_LOCALE": "fr", "COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "unknown locale 'fr'" in refused.output


def _render(table: object) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def test_the_tag_table_names_schemes_and_labels_in_chinese() -> None:
    counts = [
        {"tag_id": "night_owl", "rule_id": "night_owl.v1", "rule_version": 1,
         "label": "night owl", "scheme": "service_preference", "customers": 12},
        {"tag_id": "student", "rule_id": "student.v1", "rule_version": 1,
         "label": "student", "scheme": "campus_life", "customers": 3}]
    library = parse_library({
        "features": {"f": {"measure": "revenue", "op": ">=", "value": 1}},
        "tags": {"night_owl": {"when": "f", "label": "night owl"},
                 "student": {"when": "f", "label": "student", "labels": {"zh-CN": "校园客户"}}}})
    english = tags_table(counts, library, "S1")
    assert english.title == "customer tags in snapshot S1"
    assert [c.header for c in english.columns] == [
        "scheme", "tag_id", "label", "rule_version", "customers"]
    assert list(english.columns[2].cells) == ["night owl", "student"]
    chinese = tags_table(counts, library, "S1", "zh-CN")
    assert chinese.title == "快照 S1 的客户标签"
    assert [c.header for c in chinese.columns] == ["标签体系", "标签", "名称", "规则版本", "客户数"]
    assert list(chinese.columns[0].cells) == ["服务偏好", "campus life"]
    assert list(chinese.columns[1].cells) == ["night_owl", "student"]  # ids stay
    assert list(chinese.columns[2].cells) == ["夜猫子", "校园客户"]
    assert list(chinese.columns[4].cells) == list(english.columns[4].cells) == ["12", "3"]
    assert starter_library().tags["night_owl"].label == "night owl"
