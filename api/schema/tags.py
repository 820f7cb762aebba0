"""Customer tags in GraphQL: the rule library, a customer's tags with provenance, and the
admin mutations that edit rules and re-tag. Resolvers only call ``insight.tags``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.auth import Role
from api.context import ctx
from insight import tags as tag_rules

# --- types ------------------------------------------------------------------------------


@strawberry.type(description="A condition over one measure of a customer within a window.")
class BusinessFeature:
    name: str
    label: str
    measure: str
    op: str
    value: JSON
    months: int
    lists: JSON = strawberry.field(description="Lists the measure restricts to "
                                               "(numbers, campaigns, channels...).")
    description: str

    @classmethod
    def of(cls, f: tag_rules.BusinessFeature) -> BusinessFeature:
        return cls(name=f.name, label=f.label, measure=f.measure, op=f.op, value=f.value,
                   months=f.months, lists={k: list(v) for k, v in f.lists.items()},
                   description=f.describe())


@strawberry.type(description="A tag and the versioned rule that assigns it.")
class TagRule:
    tag: str
    rule_id: str = strawberry.field(description="`<tag>.v<version>`.")
    version: int
    label: str
    scheme: str
    expression: str = strawberry.field(description="and / or / not over features and tags.")
    features: list[str] = strawberry.field(description="Business features used, "
                                                       "directly or through other tags.")
    customers: int | None = strawberry.field(
        description="Customers holding the tag in the snapshot (null: not tagged yet).")


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
                         label=r["label"], scheme=r["scheme"], expression=r["expression"],
                         features=r["features"],
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
    label: str | None
    scheme: str | None
    rule_id: str
    rule_version: int
    expression: str | None
    period: dt.date = strawberry.field(description="First day of the month tagged.")
    evidence: list[TagEvidence]


@strawberry.type(description="What a re-tagging published.")
class TaggingResult:
    snapshot_id: str
    period: dt.date
    library_version: int
    assignments: int
    counts: JSON


def _customer_tags(rows: list[dict[str, Any]]) -> list[CustomerTag]:
    return [CustomerTag(
        tag=r["tag_id"], label=r.get("label"), scheme=r.get("scheme"), rule_id=r["rule_id"],
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
        rows = await ctx(info).snapshot.on_warehouse(
            lambda con: tag_rules.customer_tags(con, customer_id))
        return _customer_tags(rows)


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
