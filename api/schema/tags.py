"""Customer tags in GraphQL: the rule library, a customer's tags with provenance, and the
admin mutations that edit rules and re-tag. Resolvers only call ``insight.tags``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.auth import Role
from api.context import LocaleArgument, ctx
from insight import tags as tag_rules

# --- types ------------------------------------------------------------------------------


def _words(info: Info, label: str | None, labels: Mapping[str, str],
           locale: str | None) -> str | None:
    """A label in the field's locale (``insight.tags.label_in``)."""
    if label is None:
        return None
    return tag_rules.label_in(label, ctx(info).in_locale(locale), labels)


@strawberry.type(description="A condition over one measure of a customer within a window.")
class BusinessFeature:
    name: str
    _label: strawberry.Private[str]
    _labels: strawberry.Private[Mapping[str, str]]
    measure: str
    op: str
    value: JSON
    months: int
    lists: JSON = strawberry.field(description="Lists the measure restricts to "
                                               "(numbers, campaigns, channels...).")
    description: str = strawberry.field(description="The condition as a formula "
                                                    "(measure, window, operator, value).")

    @classmethod
    def of(cls, f: tag_rules.BusinessFeature) -> BusinessFeature:
        return cls(name=f.name, _label=f.label, _labels=f.labels, measure=f.measure, op=f.op,
                   value=f.value, months=f.months,
                   lists={k: list(v) for k, v in f.lists.items()}, description=f.describe())

    @strawberry.field(description="What the condition means, in `locale`.")
    def label(self, info: Info, locale: LocaleArgument = None) -> str:
        return _words(info, self._label, self._labels, locale) or ""


@strawberry.type(description="A tag and the versioned rule that assigns it.")
class TagRule:
    tag: str
    rule_id: str = strawberry.field(description="`<tag>.v<version>`.")
    version: int
    scheme: str = strawberry.field(description="The scheme's identifier (`schemeName`: as "
                                               "analysts read it).")
    expression: str = strawberry.field(description="and / or / not over features and tags.")
    features: list[str] = strawberry.field(description="Business features used, "
                                                       "directly or through other tags.")
    customers: int | None = strawberry.field(
        description="Customers holding the tag in the snapshot (null: not tagged yet).")
    _label: strawberry.Private[str]
    _labels: strawberry.Private[Mapping[str, str]]

    @strawberry.field(description="The tag as analysts read it, in `locale` (the rule's own "
                                  "`labels:` first, then the catalog).")
    def label(self, info: Info, locale: LocaleArgument = None) -> str:
        return _words(info, self._label, self._labels, locale) or ""

    @strawberry.field(description="The tag's scheme as analysts read it, in `locale`.")
    def scheme_name(self, info: Info, locale: LocaleArgument = None) -> str:
        return tag_rules.scheme_name(self.scheme, ctx(info).in_locale(locale))


@strawberry.type(description="The rule library as saved by the operator.")
class TagLibrary:
    name: str
    version: int
    features: list[BusinessFeature]
    rules: list[TagRule]
    yaml: str

    @classmethod
    def of(cls, library: tag_rules.RuleLibrary, counts: dict[str, int] | None = None
           ) -> TagLibrary:
        rules = [TagRule(tag=r["tag_id"], rule_id=r["rule_id"], version=r["version"],
                         _label=r["label"], _labels=library.tags[r["tag_id"]].labels,
                         scheme=r["scheme"], expression=r["expression"], features=r["features"],
                         customers=None if counts is None else counts.get(r["tag_id"], 0))
                 for r in tag_rules.iter_rules(library)]
        return cls(name=library.name, version=library.version,
                   features=[BusinessFeature.of(f) for f in library.features.values()],
                   rules=rules, yaml=library.to_yaml())


@strawberry.type(description="A business feature behind a tag: its value and whether it fired.")
class TagEvidence:
    feature: str
    measure: str
    value: str | None
    fired: bool


@strawberry.type(description="A tag on a customer, with its provenance.")
class CustomerTag:
    tag: str
    scheme: str | None
    rule_id: str
    rule_version: int
    expression: str | None
    period: dt.date = strawberry.field(description="First day of the month tagged.")
    evidence: list[TagEvidence]
    _label: strawberry.Private[str | None]
    _labels: strawberry.Private[Mapping[str, str]]

    @strawberry.field(description="The tag as analysts read it, in `locale`.")
    def label(self, info: Info, locale: LocaleArgument = None) -> str | None:
        return _words(info, self._label, self._labels, locale)

    @strawberry.field(description="The tag's scheme as analysts read it, in `locale`.")
    def scheme_name(self, info: Info, locale: LocaleArgument = None) -> str | None:
        if self.scheme is None:
            return None
        return tag_rules.scheme_name(self.scheme, ctx(info).in_locale(locale))


@strawberry.type(description="What a re-tagging published.")
class TaggingResult:
    snapshot_id: str
    period: dt.date
    library_version: int
    assignments: int
    counts: JSON


def _customer_tags(rows: list[dict[str, Any]], library: tag_rules.RuleLibrary
                   ) -> list[CustomerTag]:
    """``library``: the one in force, whose rules may carry their own ``labels``."""
    return [CustomerTag(
        tag=r["tag_id"], _label=r.get("label"),
        _labels=library.tags[r["tag_id"]].labels if r["tag_id"] in library.tags else {},
        scheme=r.get("scheme"), rule_id=r["rule_id"],
        rule_version=int(r["rule_version"]), expression=r.get("expression"),
        period=r["period"].date() if isinstance(r["period"], dt.datetime) else r["period"],
        evidence=[TagEvidence(feature=e["feature"], measure=e["measure"], value=e["value"],
                              fired=bool(e["fired"])) for e in r["features"]])
        for r in rows]


@strawberry.type
class TagQuery:
    @strawberry.field(description="The tag rule library in force, with customers per tag in "
                                  "this snapshot.")
    async def tag_library(self, info: Info) -> TagLibrary:
        context = ctx(info)
        library = await asyncio.to_thread(tag_rules.current_library, context.store)
        counts = await context.snapshot.on_warehouse(tag_rules.tag_counts)
        return TagLibrary.of(library, {c["tag_id"]: int(c["customers"]) for c in counts}
                             if counts else None)

    @strawberry.field(description="A customer's tags with rule version, period and the "
                                  "features behind each.")
    async def customer_tags(self, info: Info, customer_id: str) -> list[CustomerTag]:
        context = ctx(info)
        rows = await context.snapshot.on_warehouse(
            lambda con: tag_rules.customer_tags(con, customer_id))
        library = await asyncio.to_thread(tag_rules.current_library, context.store)
        return _customer_tags(rows, library)


@strawberry.type
class TagMutation:
    @strawberry.mutation(description="Replace the rule library with this YAML (admin); "
                                     "refused with the rule and the problem if invalid.")
    async def save_tag_library(self, info: Info, yaml: str) -> TagLibrary:
        context = ctx(info)
        context.require(Role.ADMIN, "editing tag rules")
        return TagLibrary.of(await context.on_store(lambda store: tag_rules.edit_library(
            store, lambda old: old.successor(tag_rules.parse_library(yaml)))))

    @strawberry.mutation(description="Add or change one tag rule (admin); its version goes up "
                                     "when the expression changes.")
    async def save_tag_rule(self, info: Info, tag: str, expression: str, label: str = "",
                            scheme: str = "general") -> TagLibrary:
        context = ctx(info)
        context.require(Role.ADMIN, "editing tag rules")
        return TagLibrary.of(await context.on_store(lambda store: tag_rules.edit_library(
            store, lambda old: old.with_tag(tag_rules.TagRule(tag, expression, 1, label,
                                                              scheme)))))

    @strawberry.mutation(description="Add or change one business feature (admin), given as "
                                     "JSON: {measure, op, value, months, label, lists...}.")
    async def save_business_feature(self, info: Info, name: str, definition: JSON
                                    ) -> TagLibrary:
        context = ctx(info)
        context.require(Role.ADMIN, "editing business features")

        def change(old: tag_rules.RuleLibrary) -> tag_rules.RuleLibrary:
            spec = definition if isinstance(definition, dict) else json.loads(str(definition))
            feature = tag_rules.parse_library(
                {"features": {name: spec}, "tags": {}}).features[name]
            return old.with_feature(feature)

        return TagLibrary.of(await context.on_store(
            lambda store: tag_rules.edit_library(store, change)))

    @strawberry.mutation(description="Remove a tag rule (admin).")
    async def delete_tag_rule(self, info: Info, tag: str) -> TagLibrary:
        context = ctx(info)
        context.require(Role.ADMIN, "editing tag rules")
        return TagLibrary.of(await context.on_store(lambda store: tag_rules.edit_library(
            store, lambda old: old.without_tag(tag))))

    @strawberry.mutation(description="Tag every customer with the saved library for a month "
                                     "(default: the last month of data) and publish the "
                                     "result as a new snapshot (admin).")
    async def apply_tags(self, info: Info, period: dt.date | None = None) -> TaggingResult:
        context = ctx(info)
        context.require(Role.ADMIN, "re-tagging")
        snapshot = await context.on_store(
            lambda store: tag_rules.tag_snapshot(store, period=period))
        summary = snapshot.manifest["tags"]
        return TaggingResult(snapshot_id=snapshot.id,
                             period=dt.date.fromisoformat(summary["period"]),
                             library_version=summary["library_version"],
                             assignments=summary["assignments"], counts=summary["counts"])
