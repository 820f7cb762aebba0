"""The saved rule library: edits go through ``edit_library`` (load, change, validate, save)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.snapshot import SnapshotStore
from insight.tags import (
    RuleError,
    RuleLibrary,
    TagRule,
    current_library,
    edit_library,
    parse_library,
    starter_library,
)

LIBRARY = """
name: edits
features:
  billed_40_plus: {measure: revenue, op: '>=', value: 40}
  risky: {measure: churn_risk, op: '>=', value: 0.5}
tags:
  valuable: {when: billed_40_plus, scheme: revenue_contribution}
"""


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    store = SnapshotStore(tmp_path / "data")
    edit_library(store, lambda old: old.successor(parse_library(LIBRARY)))
    return store


def saved(store: SnapshotStore) -> dict[str, str]:
    folder = store.root / "rules"
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())}


def test_first_edit_replaces_the_starter_library_as_its_next_version(
        store: SnapshotStore) -> None:
    library = current_library(store)
    assert library.name == "edits"
    assert library.version == starter_library().version + 1
    assert sorted(library.tags) == ["valuable"]


def test_an_invalid_change_is_refused_and_nothing_is_saved(store: SnapshotStore) -> None:
    before, files = current_library(store), saved(store)
    with pytest.raises(RuleError, match="unknown feature 'nobody'"):
        edit_library(store, lambda old: old.with_tag(TagRule("ghost", "risky and nobody")))
    assert saved(store) == files
    assert current_library(store) == before


def test_a_change_made_in_place_is_validated_too(store: SnapshotStore) -> None:
    before, files = current_library(store), saved(store)

    def break_in_place(old: RuleLibrary) -> RuleLibrary:
        old.tags["ghost"] = TagRule("ghost", "valuable or nobody")
        return old

    with pytest.raises(RuleError, match="tag 'ghost': unknown feature 'nobody'"):
        edit_library(store, break_in_place)
    assert saved(store) == files
    assert current_library(store) == before


def test_a_valid_change_is_the_next_version_and_what_current_library_returns(
        store: SnapshotStore) -> None:
    before = current_library(store)
    edited = edit_library(store, lambda old: old.with_tag(
        TagRule("valuable_at_risk", "valuable and risky", label="valuable, at risk")))
    assert edited.version == before.version + 1
    assert edited.tags["valuable_at_risk"].expression == "valuable and risky"
    assert edited.tags["valuable"] == before.tags["valuable"]
    assert current_library(store) == edited
    assert len(saved(store)) == 2


def test_an_edit_that_keeps_the_version_number_is_still_a_new_version(
        store: SnapshotStore) -> None:
    before = current_library(store)

    def add_in_place(old: RuleLibrary) -> RuleLibrary:
        old.tags["risky_customer"] = TagRule("risky_customer", "risky")
        return old

    edited = edit_library(store, add_in_place)
    assert edited.version == before.version + 1
    assert sorted(edited.tags) == ["risky_customer", "valuable"]
    assert current_library(store) == edited
    assert sorted(saved(store)) == [f"library-v{before.version}.yaml",
                                    f"library-v{edited.version}.yaml"]
