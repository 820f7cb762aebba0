"""Business features and customer tags (客户标签) as data: rules in, SQL out.

A **business feature** is a condition over one *measure* of a customer within a period
("calls to the traffic radio hotline, last month, at least 3"). A **tag** is a boolean
expression (``and``/``or``/``not``, parentheses) over business features and other tags
("student = often_active_on_campus and joined_campus_card_campaign"). The marketing team
edits these as YAML (or Turtle); nothing in this module names a tag.

Measures are the only SQL, written here once, and form a whitelist: a rule picks a
measure by name and supplies thresholds, windows and lists of numbers or codes, which are
bound as query parameters. A rule library compiles to **one** SQL statement per period
that evaluates every feature and every tag for every customer; assignments and their
evidence (rule version, each feature's value and whether it fired, the period) are
written to ``tag_assignments`` and ``tag_evidence`` and, as RDF, to the knowledge graph
(``cc:hasTag`` plus an ``rdf:Statement`` per assignment with PROV-O provenance).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml
from rdflib import Graph, Literal
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

from graph.knowledge import replace_triples
from graph.snapshot import Snapshot, SnapshotStore
from graph.warehouse import replace_cutoff_frame, table_exists
from ontology import (
    CC,
    bind_prefixes,
    business_feature_iri,
    customer_iri,
    run_iri,
    tag_iri,
    tag_rule_iri,
    tag_scheme_iri,
)

__all__ = [
    "MEASURES", "BusinessFeature", "Measure", "RuleError", "RuleLibrary", "TagResult",
    "TagRule", "apply_tags", "compile_tags", "current_library", "library_from_turtle",
    "library_to_turtle", "load_library", "month_start", "parse_library", "save_library",
    "starter_library", "tag_snapshot", "tag_triples", "write_tag_triples",
]

NUMBER, CATEGORY, BOOLEAN = "number", "category", "boolean"
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
E164 = re.compile(r"\+[1-9][0-9]{5,14}")
RULES_DIR = "rules"
STARTER_FILE = Path(__file__).parent / "rules" / "starter.yaml"


class RuleError(ValueError):
    """A rule or feature the library refuses; the message names it and the problem."""


# ---------------------------------------------------------------------------
# Measures: the whitelist of per-customer SQL a rule may use
# ---------------------------------------------------------------------------

_SUB = "s.customer_id"
_SOURCES: dict[str, dict[str, str]] = {
    # windowed sources: rows dated within the feature's window
    "usage": {"from": "usage_monthly u JOIN subscriptions s ON s.msisdn = u.msisdn",
              "date": "u.month", "key": _SUB, "table": "usage_monthly"},
    "bills": {"from": "bills b JOIN subscriptions s ON s.subscription_id = b.subscription_id",
              "date": "b.period", "key": _SUB, "table": "bills"},
    "interactions": {"from": "interactions i", "date": "i.occurred_at",
                     "key": "i.customer_id", "table": "interactions"},
    "calls_out": {"from": "cdrs c JOIN subscriptions s ON s.msisdn = c.caller",
                  "date": "c.start_time", "key": _SUB, "table": "cdrs"},
    "calls_any": {"from": "(SELECT caller AS me, callee AS other, start_time FROM cdrs "
                          "UNION ALL SELECT callee, caller, start_time FROM cdrs) c "
                          "JOIN subscriptions s ON s.msisdn = c.me",
                  "date": "c.start_time", "key": _SUB, "table": "cdrs"},
    "responses": {"from": "campaign_responses r JOIN campaign_contacts k "
                          "ON k.contact_id = r.contact_id",
                  "date": "r.responded_at", "key": "k.customer_id",
                  "table": "campaign_responses"},
    "churn": {"from": "churn_events e JOIN subscriptions s "
                      "ON s.subscription_id = e.subscription_id",
              "date": "e.churn_date", "key": _SUB, "table": "churn_events"},
    # as-of sources: the state at the end of the period ($end, exclusive)
    "customers": {"from": "customers c", "key": "c.customer_id", "table": "customers"},
    "lines": {"from": "subscriptions s JOIN products p ON p.product_id = s.product_id",
              "where": "s.start_date < $end AND (s.end_date IS NULL OR s.end_date >= $end)",
              "key": _SUB, "table": "subscriptions"},
    "value": {"from": "customer_value v", "key": "v.customer_id", "table": "customer_value",
              "where": "v.cutoff = (SELECT max(cutoff) FROM customer_value "
                       "WHERE cutoff <= $end)"},
    "segments": {"from": "segment_members m", "key": "m.customer_id",
                 "table": "segment_members",
                 "where": "m.cutoff = (SELECT max(cutoff) FROM segment_members "
                          "WHERE cutoff <= $end)"},
    "network": {"from": "(SELECT *, avg(churned_before_cutoff::INT) OVER (PARTITION BY "
                        "circle_id) AS circle_churned_share FROM graph_features WHERE "
                        "cutoff = (SELECT max(cutoff) FROM graph_features "
                        "WHERE cutoff <= $end)) g",
                "key": "g.customer_id", "table": "graph_features"},
    "circles": {"from": "circle_members cm JOIN numbers n ON n.msisdn = cm.msisdn",
                "key": "n.customer_id", "table": "circle_members",
                "where": "cm.cutoff = (SELECT max(cutoff) FROM circle_members "
                         "WHERE cutoff <= $end)"},
}


@dataclass(frozen=True)
class Measure:
    """A per-customer quantity a business feature may test (the SQL is ours, not the rule's)."""

    name: str
    kind: str
    source: str
    expr: str
    doc: str
    filters: Mapping[str, str] = field(default_factory=dict)
    """Optional list parameters: name → SQL column the list restricts (``list_contains``)."""
    zero_if_missing: bool = True
    """Customers with no rows in the window count 0 (sums, counts); else NULL (ratios)."""
    trend: bool = False
    """``expr`` is summed for the period's last month and divided by the monthly average of
    the earlier months of the window (needs ``months`` ≥ 2)."""

    @property
    def windowed(self) -> bool:
        return "date" in _SOURCES[self.source]


def _m(name: str, kind: str, source: str, expr: str, doc: str, **kw: Any) -> Measure:
    return Measure(name, kind, source, expr, doc, **kw)


_REVENUE = {"voice": "b.voice_charge", "data": "b.data_charge", "sms": "b.sms_charge",
            "vas": "b.vas_charge", "roaming": "b.roaming_charge", "plan": "b.recurring_charge"}
MEASURES: dict[str, Measure] = {m.name: m for m in [
    _m("calls_out", NUMBER, "usage", "sum(u.calls_out)", "Outgoing calls."),
    _m("calls_in", NUMBER, "usage", "sum(u.calls_in)", "Incoming calls."),
    _m("minutes_out", NUMBER, "usage", "sum(u.seconds_out) / 60.0", "Outgoing minutes."),
    _m("sms_out", NUMBER, "usage", "sum(u.sms_out)", "SMS sent."),
    _m("data_mb", NUMBER, "usage", "sum(u.data_mb)", "Mobile data, MB."),
    _m("active_days", NUMBER, "usage", "max(u.active_days)",
       "Most active days of one line in a month."),
    _m("contacts", NUMBER, "usage", "max(u.contacts)", "Distinct numbers called, one line."),
    _m("night_calls", NUMBER, "usage", "sum(u.night_calls)", "Calls 22:00-06:00."),
    _m("night_share", NUMBER, "usage",
       "sum(u.night_calls) / nullif(sum(u.calls_out + u.calls_in), 0)",
       "Share of calls at night.", zero_if_missing=False),
    _m("roaming_calls", NUMBER, "usage", "sum(u.roaming_calls)", "Calls while roaming."),
    _m("minutes_trend", NUMBER, "usage", "u.seconds_out",
       "Outgoing minutes of the last month over the earlier months' average.",
       zero_if_missing=False, trend=True),
    _m("revenue", NUMBER, "bills", "sum(b.total_amount)", "Billed revenue."),
    *[_m(f"{k}_revenue", NUMBER, "bills", f"sum({c})", f"Billed {k} charges.")
      for k, c in _REVENUE.items()],
    *[_m(f"{k}_share", NUMBER, "bills", f"sum({c}) / nullif(sum(b.total_amount), 0)",
         f"Share of billed revenue from {k}.", zero_if_missing=False)
      for k, c in _REVENUE.items()],
    _m("revenue_trend", NUMBER, "bills", "b.total_amount",
       "Revenue of the last month over the earlier months' average.",
       zero_if_missing=False, trend=True),
    _m("arrears", NUMBER, "bills", "max(b.arrears)", "Largest unpaid balance carried."),
    _m("interactions", NUMBER, "interactions", "count(*)",
       "Contacts with the operator (optionally of some channels / categories).",
       filters={"channels": "i.channel", "categories": "i.category"}),
    _m("digital_share", NUMBER, "interactions",
       "avg((i.channel IN ('app', 'web'))::INT)", "Share of contacts through app or web.",
       zero_if_missing=False),
    _m("calls_to", NUMBER, "calls_out", "count(*)",
       "Calls and SMS to the listed numbers (e.g. a hotline).",
       filters={"numbers": "c.callee"}),
    _m("contact_days", NUMBER, "calls_any", "count(DISTINCT CAST(c.start_time AS DATE))",
       "Days with a call or SMS to or from the listed numbers.",
       filters={"numbers": "c.other"}),
    _m("accepted_offers", NUMBER, "responses",
       "count(*) FILTER (WHERE r.response = 'accepted')",
       "Campaign offers accepted (optionally of the listed campaigns).",
       filters={"campaigns": "k.campaign_id"}),
    _m("churned_lines", NUMBER, "churn", "count(*)", "Lines that left (any churn type)."),
    _m("customer_type", CATEGORY, "customers", "any_value(c.customer_type)",
       "individual, enterprise or group."),
    _m("gender", CATEGORY, "customers", "any_value(c.gender)", "M or F."),
    _m("region", CATEGORY, "customers", "any_value(c.region)", "Sales region."),
    _m("age", NUMBER, "customers", "any_value(date_diff('year', c.birth_date, $end))",
       "Age in years at the end of the period.", zero_if_missing=False),
    _m("tenure_months", NUMBER, "customers",
       "any_value(date_diff('month', c.join_date, $end))", "Months since joining.",
       zero_if_missing=False),
    _m("do_not_contact", BOOLEAN, "customers", "any_value(coalesce(c.do_not_contact, false))",
       "Refused marketing contact."),
    _m("lines", NUMBER, "lines", "count(*)", "Active lines at the end of the period."),
    _m("payment_type", CATEGORY, "lines", "mode(p.payment_type)", "prepaid or postpaid."),
    _m("plan", CATEGORY, "lines", "mode(s.product_id)", "Most held tariff plan."),
    _m("churn_risk", NUMBER, "value", "max(v.churn_risk)", "Churn probability (latest).",
       zero_if_missing=False),
    _m("clv", NUMBER, "value", "sum(v.clv)", "Customer lifetime value.", zero_if_missing=False),
    _m("current_value", NUMBER, "value", "sum(v.monthly_revenue)", "Average monthly revenue.",
       zero_if_missing=False),
    _m("network_value", NUMBER, "value", "sum(v.network_value)",
       "Value of the circle the customer influences.", zero_if_missing=False),
    _m("value_tier", CATEGORY, "value", "any_value(v.value_tier)", "Value tier."),
    _m("segment", CATEGORY, "segments", "CAST(min(m.segment_id) AS VARCHAR)",
       "Behaviour segment id."),
    _m("pagerank", NUMBER, "network", "max(g.pagerank)", "Influence in the call graph.",
       zero_if_missing=False),
    _m("degree", NUMBER, "network", "max(g.degree)", "Call partners of the busiest line."),
    _m("circle_size", NUMBER, "network", "max(g.circle_size)", "Size of the call circle.",
       zero_if_missing=False),
    _m("churned_neighbours", NUMBER, "network", "max(g.churned_neighbours)",
       "Call partners who left."),
    _m("churned_tie_share", NUMBER, "network", "max(g.churned_tie_share)",
       "Share of call strength to partners who left (recent weigh more)."),
    _m("circle_churned_share", NUMBER, "network", "max(g.circle_churned_share)",
       "Share of the call circle's subscribers who left.", zero_if_missing=False),
    _m("circle_influencer", BOOLEAN, "circles", "bool_or(cm.is_influencer)",
       "Named influencer of a call circle."),
]}

_NUMERIC_OPS = {">=", ">", "<=", "<", "==", "!=", "between"}
_CATEGORY_OPS = {"==", "!=", "in", "not in"}
_BOOLEAN_OPS = {"==", "!="}


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessFeature:
    """A condition over one measure within a window of months ending with the period."""

    name: str
    measure: str
    op: str
    value: Any
    months: int = 1
    label: str = ""
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"measure": self.measure, "op": self.op, "value": self.value,
                               "months": self.months}
        if self.label:
            out["label"] = self.label
        out.update({k: list(v) for k, v in self.lists.items()})
        return out

    def describe(self) -> str:
        lists = "".join(f", {k}={list(v)}" for k, v in self.lists.items())
        return f"{self.measure}(months={self.months}{lists}) {self.op} {self.value!r}"


@dataclass(frozen=True)
class TagRule:
    """A tag and the versioned rule that assigns it."""

    tag: str
    expression: str
    version: int = 1
    label: str = ""
    scheme: str = "general"
    description: str = ""

    @property
    def rule_id(self) -> str:
        return f"{self.tag}.v{self.version}"


@dataclass(frozen=True)
class RuleLibrary:
    """Features and tags, validated together (names resolve, types agree, no cycles)."""

    features: dict[str, BusinessFeature]
    tags: dict[str, TagRule]
    name: str = "library"
    version: int = 1

    def __post_init__(self) -> None:
        validate_library(self)

    def with_tag(self, rule: TagRule) -> RuleLibrary:
        """A new library version holding ``rule`` (its version bumped if it changed)."""
        old = self.tags.get(rule.tag)
        if old is not None:
            same = (old.expression, old.label, old.scheme) == (rule.expression, rule.label,
                                                               rule.scheme)
            rule = replace(rule, version=old.version if same else old.version + 1)
        return replace(self, tags={**self.tags, rule.tag: rule}, version=self.version + 1)

    def with_feature(self, feature: BusinessFeature) -> RuleLibrary:
        """A new library version holding ``feature``; tags that use it get a new version."""
        tags = dict(self.tags)
        if feature.name in self.features and self.features[feature.name] != feature:
            for tag in self.tags.values():
                if feature.name in self.features_of(tag.tag):
                    tags[tag.tag] = replace(tag, version=tag.version + 1)
        return replace(self, features={**self.features, feature.name: feature}, tags=tags,
                       version=self.version + 1)

    def without_tag(self, tag: str) -> RuleLibrary:
        if tag not in self.tags:
            raise RuleError(f"tag {tag!r}: no such tag")
        return replace(self, tags={k: v for k, v in self.tags.items() if k != tag},
                       version=self.version + 1)

    def successor(self, new: RuleLibrary) -> RuleLibrary:
        """``new`` as the next version of this library: a tag keeps its version if its rule
        and the features it uses are unchanged, else goes one up."""
        tags = {}
        for name, rule in new.tags.items():
            old = self.tags.get(name)
            if old is None:
                tags[name] = rule
                continue
            same = (old.expression, old.label, old.scheme) == (rule.expression, rule.label,
                                                               rule.scheme) and all(
                self.features.get(f) == new.features.get(f)
                for f in set(self.features_of(name)) | set(new.features_of(name)))
            tags[name] = replace(rule, version=old.version if same else old.version + 1)
        return RuleLibrary(dict(new.features), tags, new.name, self.version + 1)

    def features_of(self, tag: str) -> list[str]:
        """Business features a tag uses, directly or through other tags (sorted)."""
        seen: set[str] = set()
        stack = [tag]
        out: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            for ref in _names(_parse(self.tags[name].expression, name)):
                (out.add(ref) if ref in self.features else stack.append(ref))
        return sorted(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version,
            "features": {n: f.definition() for n, f in self.features.items()},
            "tags": {n: {"when": t.expression, "version": t.version, "label": t.label,
                         "scheme": t.scheme, "description": t.description}
                     for n, t in self.tags.items()},
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False, allow_unicode=True)


# --- the expression language: names, and, or, not, parentheses ---------------

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([A-Za-z_][A-Za-z0-9_]*))")


def _tokens(text: str, rule: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RuleError(f"tag {rule!r}: cannot read {text[pos:]!r} in expression {text!r}")
        out.append(m.group(0).strip())
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _parse(text: str, rule: str) -> Any:
    """Expression → nested tuples: ('and', a, b), ('or', a, b), ('not', a), ('name', n)."""
    tokens = _tokens(text, rule)
    pos = 0

    def peek() -> str | None:
        return tokens[pos].lower() if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def disjunction() -> Any:
        node = conjunction()
        while peek() == "or":
            take()
            node = ("or", node, conjunction())
        return node

    def conjunction() -> Any:
        node = negation()
        while peek() == "and":
            take()
            node = ("and", node, negation())
        return node

    def negation() -> Any:
        if peek() == "not":
            take()
            return ("not", negation())
        if peek() == "(":
            take()
            node = disjunction()
            if peek() != ")":
                raise RuleError(f"tag {rule!r}: missing ')' in expression {text!r}")
            take()
            return node
        if peek() is None or peek() in {")", "and", "or"}:
            raise RuleError(f"tag {rule!r}: expected a feature or tag name in {text!r}")
        return ("name", take())

    if not tokens:
        raise RuleError(f"tag {rule!r}: empty expression")
    node = disjunction()
    if pos != len(tokens):
        raise RuleError(f"tag {rule!r}: unexpected {tokens[pos]!r} in expression {text!r}")
    return node


def _names(node: Any) -> list[str]:
    if node[0] == "name":
        return [node[1]]
    return [n for child in node[1:] for n in _names(child)]


# --- validation ---------------------------------------------------------------


def _check_feature(f: BusinessFeature) -> None:
    where = f"business feature {f.name!r}"
    if not NAME.fullmatch(f.name):
        raise RuleError(f"{where}: names are lower-case letters, digits and '_'")
    measure = MEASURES.get(f.measure)
    if measure is None:
        raise RuleError(f"{where}: unknown measure {f.measure!r} "
                        f"(known: {', '.join(sorted(MEASURES))})")
    if not isinstance(f.months, int) or isinstance(f.months, bool) or not 1 <= f.months <= 36:
        raise RuleError(f"{where}: months must be an integer from 1 to 36, not {f.months!r}")
    if measure.trend and f.months < 2:
        raise RuleError(f"{where}: {f.measure} compares months, so months must be ≥ 2")
    for key, values in f.lists.items():
        if key not in measure.filters:
            raise RuleError(f"{where}: measure {f.measure} takes no list {key!r}"
                            + (f" (it takes {', '.join(measure.filters)})"
                               if measure.filters else ""))
        if not values or not all(isinstance(v, str) and v for v in values):
            raise RuleError(f"{where}: {key} must be a non-empty list of text values")
        if key == "numbers" and not all(E164.fullmatch(v) for v in values):
            bad = next(v for v in values if not E164.fullmatch(v))
            raise RuleError(f"{where}: {bad!r} is not an E.164 number (+8613800138000)")
    ops = {NUMBER: _NUMERIC_OPS, CATEGORY: _CATEGORY_OPS, BOOLEAN: _BOOLEAN_OPS}[measure.kind]
    if f.op not in ops:
        needs = "a number" if f.op in _NUMERIC_OPS else "a category"
        raise RuleError(f"{where}: type mismatch: {f.measure} is a {measure.kind}, "
                        f"operator {f.op!r} needs {needs} (use one of {', '.join(sorted(ops))})")
    v = f.value

    def is_num(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    ok = {
        NUMBER: (isinstance(v, list | tuple) and len(v) == 2 and all(map(is_num, v)))
        if f.op == "between" else is_num(v),
        CATEGORY: (isinstance(v, list | tuple) and len(v) > 0
                   and all(isinstance(x, str) for x in v))
        if f.op in {"in", "not in"} else isinstance(v, str),
        BOOLEAN: isinstance(v, bool),
    }[measure.kind]
    if not ok:
        raise RuleError(f"{where}: type mismatch: {f.measure} is a {measure.kind} and "
                        f"{f.op!r} cannot compare it with {v!r}")


def validate_library(library: RuleLibrary) -> None:
    """Refuse unknown names, type mismatches and cycles, naming the rule at fault."""
    for name, f in library.features.items():
        if name != f.name:
            raise RuleError(f"business feature {name!r}: defined under another name {f.name!r}")
        _check_feature(f)
    graph: dict[str, list[str]] = {}
    for name, rule in library.tags.items():
        if not NAME.fullmatch(name) or name != rule.tag:
            raise RuleError(f"tag {name!r}: names are lower-case letters, digits and '_'")
        if name in library.features:
            raise RuleError(f"tag {name!r}: a business feature has the same name")
        if not isinstance(rule.version, int) or rule.version < 1:
            raise RuleError(f"tag {name!r}: version must be a positive integer")
        refs = _names(_parse(rule.expression, name))
        for ref in refs:
            if ref in library.features or ref in library.tags:
                continue
            if ref in MEASURES:
                kind = MEASURES[ref].kind
                raise RuleError(
                    f"tag {name!r}: type mismatch: {ref!r} is a {kind} measure, not a "
                    f"true/false feature; define a business feature over it "
                    f"(e.g. measure: {ref}, op: '>=', value: ...)")
            raise RuleError(f"tag {name!r}: unknown feature {ref!r}")
        graph[name] = [r for r in refs if r in library.tags]
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*path[path.index(node):], node]
            raise RuleError(f"tag {cycle[0]!r}: cycle {' → '.join(cycle)}")
        state[node] = 1
        for nxt in graph[node]:
            visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        visit(name, [name])


def _topological(library: RuleLibrary) -> list[str]:
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for ref in _names(_parse(library.tags[name].expression, name)):
            if ref in library.tags:
                visit(ref)
        order.append(name)

    for name in sorted(library.tags):
        visit(name)
    return order


# --- loading and saving ---------------------------------------------------------


def _feature_from(name: str, spec: Any) -> BusinessFeature:
    if not isinstance(spec, Mapping):
        raise RuleError(f"business feature {name!r}: expected a mapping, got {spec!r}")
    spec = dict(spec)
    measure = spec.pop("measure", None)
    if measure is None:
        raise RuleError(f"business feature {name!r}: no measure")
    kind = MEASURES[measure].kind if measure in MEASURES else None
    op = spec.pop("op", "==" if kind == BOOLEAN else None)
    value = spec.pop("value", True if kind == BOOLEAN else None)
    if op is None:
        raise RuleError(f"business feature {name!r}: no op")
    months = spec.pop("months", 1)
    label = str(spec.pop("label", ""))
    lists = {}
    for key in list(spec):
        values = spec.pop(key)
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list):
            raise RuleError(f"business feature {name!r}: unknown key {key!r}")
        lists[key] = tuple(values)
    return BusinessFeature(name, measure, str(op), value, months, label, lists)


def parse_library(data: Mapping[str, Any] | str) -> RuleLibrary:
    """A library from its YAML text or the mapping it holds."""
    if isinstance(data, str):
        data = yaml.safe_load(data) or {}
    if not isinstance(data, Mapping):
        raise RuleError("rule library: expected a mapping with 'features' and 'tags'")
    features = {str(n): _feature_from(str(n), s) for n, s in (data.get("features") or {}).items()}
    tags = {}
    for name, spec in (data.get("tags") or {}).items():
        if isinstance(spec, str):
            spec = {"when": spec}
        if not isinstance(spec, Mapping) or "when" not in spec:
            raise RuleError(f"tag {name!r}: needs 'when' (an expression over features)")
        tags[str(name)] = TagRule(str(name), str(spec["when"]), int(spec.get("version", 1)),
                                  str(spec.get("label", "")), str(spec.get("scheme", "general")),
                                  str(spec.get("description", "")))
    return RuleLibrary(features, tags, str(data.get("name", "library")),
                       int(data.get("version", 1)))


def load_library(path: str | Path) -> RuleLibrary:
    """A library from a YAML file or a Turtle file (``.ttl``)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ttl":
        return library_from_turtle(text)
    return parse_library(text)


def starter_library() -> RuleLibrary:
    """The ~20 tags shipped with the product (``insight/rules/starter.yaml``)."""
    return load_library(STARTER_FILE)


def _library_files(store: SnapshotStore) -> list[Path]:
    folder = store.root / RULES_DIR
    if not folder.exists():
        return []
    return sorted(folder.glob("library-v*.yaml"), key=lambda p: int(p.stem.split("-v")[-1]))


def current_library(store: SnapshotStore) -> RuleLibrary:
    """The operator's latest saved library (every version is kept), else the starter one."""
    files = _library_files(store)
    return load_library(files[-1]) if files else starter_library()


def save_library(store: SnapshotStore, library: RuleLibrary) -> Path:
    """Save a library version beside the snapshots (they are immutable; rules are not)."""
    folder = store.root / RULES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files = _library_files(store)
    if files and int(files[-1].stem.split("-v")[-1]) >= library.version:
        library = replace(library, version=int(files[-1].stem.split("-v")[-1]) + 1)
    path = folder / f"library-v{library.version}.yaml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(library.to_yaml(), encoding="utf-8")
    tmp.replace(path)
    return path


# --- Turtle: the rules as the knowledge graph holds them --------------------------


def rule_graph(library: RuleLibrary) -> Graph:
    """Schemes, tags, rules and features in the ontology's terms."""
    g = bind_prefixes(Graph())
    for name, f in library.features.items():
        iri = business_feature_iri(name)
        g.add((iri, RDF.type, CC.BusinessFeature))
        g.add((iri, DCTERMS.identifier, Literal(name)))
        g.add((iri, RDFS.label, Literal(f.label or name.replace("_", " "))))
        g.add((iri, CC.featureColumn, Literal(f.measure)))
        g.add((iri, SKOS.definition, Literal(f.describe())))
        g.add((iri, RDF.value, Literal(json.dumps(f.definition(), sort_keys=True),
                                       datatype=RDF.JSON)))
    for name, rule in library.tags.items():
        tag, iri = tag_iri(name), tag_rule_iri(rule.rule_id)
        scheme = tag_scheme_iri(rule.scheme)
        g.add((scheme, RDF.type, CC.TagScheme))
        g.add((scheme, SKOS.prefLabel, Literal(rule.scheme.replace("_", " "))))
        g.add((tag, RDF.type, CC.Tag))
        g.add((tag, DCTERMS.identifier, Literal(name)))
        g.add((tag, SKOS.prefLabel, Literal(rule.label or name.replace("_", " "))))
        g.add((tag, SKOS.inScheme, scheme))
        if rule.description:
            g.add((tag, SKOS.definition, Literal(rule.description)))
        g.add((tag, CC.tagRule, iri))
        g.add((iri, RDF.type, CC.TagRule))
        g.add((iri, DCTERMS.identifier, Literal(rule.rule_id)))
        g.add((iri, OWL.versionInfo, Literal(rule.version)))
        g.add((iri, CC.ruleExpression, Literal(rule.expression)))
        g.add((iri, DCTERMS.isVersionOf, tag))
        for ref in _names(_parse(rule.expression, name)):
            if ref in library.features:
                g.add((iri, CC.usesFeature, business_feature_iri(ref)))
            else:
                g.add((iri, DCTERMS.requires, tag_iri(ref)))
    lib = tag_scheme_iri(library.name)
    g.add((lib, RDF.type, CC.TagScheme))
    g.add((lib, OWL.versionInfo, Literal(library.version)))
    g.add((lib, DCTERMS.identifier, Literal(library.name)))
    return g


def library_to_turtle(library: RuleLibrary) -> str:
    return rule_graph(library).serialize(format="turtle")


def library_from_turtle(text: str) -> RuleLibrary:
    """Read back a library written by :func:`library_to_turtle` (or by hand, same terms)."""
    g = Graph().parse(data=text, format="turtle")
    features = {}
    for iri in g.subjects(RDF.type, CC.BusinessFeature):
        name = str(g.value(iri, DCTERMS.identifier))
        spec = json.loads(str(g.value(iri, RDF.value) or "{}"))
        spec.setdefault("measure", str(g.value(iri, CC.featureColumn)))
        features[name] = _feature_from(name, spec)
    tags = {}
    for tag in g.subjects(RDF.type, CC.Tag):
        name = str(g.value(tag, DCTERMS.identifier))
        rules = list(g.objects(tag, CC.tagRule))
        if not rules:
            raise RuleError(f"tag {name!r}: no cc:tagRule")
        rule = max(rules, key=lambda r: int(g.value(r, OWL.versionInfo) or 1))
        scheme = g.value(tag, SKOS.inScheme)
        definition = g.value(tag, SKOS.definition)
        tags[name] = TagRule(name, str(g.value(rule, CC.ruleExpression)),
                             int(g.value(rule, OWL.versionInfo) or 1),
                             str(g.value(tag, SKOS.prefLabel) or ""),
                             str(scheme).rsplit("/", 1)[-1] if scheme else "general",
                             str(definition) if definition else "")
    name, version = "library", 1
    for lib in g.subjects(RDF.type, CC.TagScheme):
        if (lib, OWL.versionInfo, None) in g:
            name = str(g.value(lib, DCTERMS.identifier))
            version = int(g.value(lib, OWL.versionInfo))
    return RuleLibrary(features, tags, name, version)


# ---------------------------------------------------------------------------
# Compilation: one SQL statement per period
# ---------------------------------------------------------------------------


def month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class CompiledTags:
    """The evaluation query of one period and its parameters."""

    sql: str
    params: dict[str, Any]
    period: date
    feature_columns: dict[str, tuple[str, str]]
    """feature → (value column, fired column) of ``_tag_eval``."""
    tag_columns: dict[str, str]


def _feature_sql(i: int, f: BusinessFeature, period: date, params: dict[str, Any]) -> str:
    measure = MEASURES[f.measure]
    src = _SOURCES[measure.source]
    end = "$end"
    where: list[str] = []
    expr = measure.expr
    if measure.windowed:
        start = _add_months(period, -(f.months - 1))
        params[f"w{i}"] = start
        where.append(f"{src['date']} >= $w{i} AND {src['date']} < {end}")
        if measure.trend:
            params[f"l{i}"] = period
            d = src["date"]
            expr = (f"sum({expr}) FILTER (WHERE {d} >= $l{i}) / nullif(sum({expr}) FILTER "
                    f"(WHERE {d} < $l{i}) / {int(f.months - 1)}, 0)")
    if "where" in src:
        where.append(src["where"])
    for key, values in sorted(f.lists.items()):
        params[f"p{i}_{key}"] = list(values)
        where.append(f"list_contains($p{i}_{key}, {measure.filters[key]})")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (f"f{i} AS (SELECT {src['key']} AS customer_id, {expr} AS v "
            f"FROM {src['from']}{clause} GROUP BY 1)")


def _condition_sql(i: int, f: BusinessFeature, column: str, params: dict[str, Any]) -> str:
    if f.op == "between":
        params[f"a{i}"], params[f"b{i}"] = float(f.value[0]), float(f.value[1])
        return f"{column} BETWEEN $a{i} AND $b{i}"
    if f.op in {"in", "not in"}:
        params[f"a{i}"] = [str(x) for x in f.value]
        neg = "NOT " if f.op == "not in" else ""
        return f"{neg}list_contains($a{i}, {column})"
    kind = MEASURES[f.measure].kind
    params[f"a{i}"] = float(f.value) if kind == NUMBER else f.value
    op = "=" if f.op == "==" else ("<>" if f.op == "!=" else f.op)
    return f"{column} {op} $a{i}"


def _expression_sql(node: Any, columns: dict[str, str]) -> str:
    kind = node[0]
    if kind == "name":
        return columns[node[1]]
    if kind == "not":
        return f"(NOT {_expression_sql(node[1], columns)})"
    return f"({_expression_sql(node[1], columns)} {kind.upper()} " \
           f"{_expression_sql(node[2], columns)})"


def required_tables(library: RuleLibrary) -> set[str]:
    return {_SOURCES[MEASURES[f.measure].source]["table"] for f in library.features.values()}


def compile_tags(library: RuleLibrary, period: date,
                 con: duckdb.DuckDBPyConnection | None = None) -> CompiledTags:
    """The SELECT that evaluates every feature and tag of ``library`` for the month
    ``period`` (one row per customer); features whose tables are absent from ``con``
    are refused, naming the feature."""
    period = month_start(period)
    if con is not None:
        for name, f in library.features.items():
            src = _SOURCES[MEASURES[f.measure].source]
            tables = {src["table"]} | ({"subscriptions"} if "s." in src["from"] else set())
            tables |= {"products"} if "products" in src["from"] else set()
            tables |= {"numbers"} if "numbers" in src["from"] else set()
            missing = [t for t in sorted(tables) if not table_exists(con, t)]
            if missing:
                raise RuleError(f"business feature {name!r}: the warehouse has no "
                                f"{', '.join(missing)} table (measure {f.measure})")
    params: dict[str, Any] = {"end": _add_months(period, 1)}
    ctes, selects, joins = [], [], []
    feature_columns: dict[str, tuple[str, str]] = {}
    names = sorted(library.features)
    for i, name in enumerate(names):
        f = library.features[name]
        measure = MEASURES[f.measure]
        ctes.append(_feature_sql(i, f, period, params))
        value = f"coalesce(f{i}.v, 0)" if measure.zero_if_missing and measure.kind == NUMBER \
            else f"f{i}.v"
        selects.append(f"{value} AS v{i}")
        selects.append(f"coalesce({_condition_sql(i, f, value, params)}, false) AS b{i}")
        joins.append(f"LEFT JOIN f{i} ON f{i}.customer_id = c.customer_id")
        feature_columns[name] = (f"v{i}", f"b{i}")
    columns = {n: feature_columns[n][1] for n in names}
    tag_columns: dict[str, str] = {}
    tag_selects = []
    for j, tag in enumerate(_topological(library)):
        expr = _expression_sql(_parse(library.tags[tag].expression, tag), columns)
        tag_selects.append(f"{expr} AS t{j}")
        columns[tag] = f"t{j}"
        tag_columns[tag] = f"t{j}"
    # Tags may use tags: inner SELECT holds features; each tag is a column of the next layer.
    inner = (f"WITH {', '.join(ctes)} SELECT c.customer_id, {', '.join(selects)} "
             f"FROM customers c {' '.join(joins)}") if ctes else \
        "SELECT c.customer_id FROM customers c"
    sql = inner
    for j, tag_select in enumerate(tag_selects):
        sql = f"SELECT *, {tag_select} FROM ({sql}) AS l{j}"
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    return CompiledTags(sql, {k: v for k, v in params.items() if k in used}, period,
                        feature_columns, tag_columns)


@dataclass
class TagResult:
    """Assignments and evidence of one period."""

    period: date
    cutoff: date
    assignments: pd.DataFrame
    evidence: pd.DataFrame
    rules: pd.DataFrame
    counts: dict[str, int]
    seconds: float


def apply_tags(con: duckdb.DuckDBPyConnection, library: RuleLibrary, period: date, *,
               run_id: str = "") -> TagResult:
    """Evaluate ``library`` on the warehouse for the month ``period`` (read-only on ``con``).

    ``cutoff`` is the first day after the period, as for the churn scores of that month.
    """
    started = time.perf_counter()
    compiled = compile_tags(library, period, con)
    cutoff = _add_months(compiled.period, 1)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _tag_eval AS {compiled.sql}", compiled.params)
    assign, evidence = [], []
    for tag, column in compiled.tag_columns.items():
        rule = library.tags[tag]
        meta = [cutoff, compiled.period, tag, rule.rule_id, rule.version, library.version,
                run_id]
        head = ("SELECT $cutoff AS cutoff, $period AS period, customer_id, $tag AS tag_id, "
                "$rule AS rule_id, $version AS rule_version, $library AS library_version, "
                "$run AS run_id")
        params = dict(zip(["cutoff", "period", "tag", "rule", "version", "library", "run"],
                          meta, strict=True))
        assign.append(con.execute(f"{head} FROM _tag_eval WHERE {column}", params).df())
        for feature in library.features_of(tag):
            value_col, fired_col = compiled.feature_columns[feature]
            kind = MEASURES[library.features[feature].measure].kind
            number = f"CAST({value_col} AS DOUBLE)" if kind != CATEGORY else "NULL::DOUBLE"
            evidence.append(con.execute(
                f"{head}, $feature AS feature, $measure AS measure, "
                f"CAST({value_col} AS VARCHAR) AS value, {number} AS value_number, "
                f"{fired_col} AS fired FROM _tag_eval WHERE {column}",
                {**params, "feature": feature,
                 "measure": library.features[feature].measure}).df())
    con.execute("DROP TABLE _tag_eval")
    columns = ["cutoff", "period", "customer_id", "tag_id", "rule_id", "rule_version",
               "library_version", "run_id"]
    assignments = pd.concat(assign, ignore_index=True) if assign else pd.DataFrame(
        columns=columns)
    evidence_frame = pd.concat(evidence, ignore_index=True) if evidence else pd.DataFrame(
        columns=[*columns, "feature", "measure", "value", "value_number", "fired"])
    rules = pd.DataFrame([{
        "cutoff": cutoff, "tag_id": t.tag, "rule_id": t.rule_id, "rule_version": t.version,
        "library": library.name, "library_version": library.version, "label": t.label,
        "scheme": t.scheme, "expression": t.expression,
        "features": ",".join(library.features_of(t.tag)),
        "definition": json.dumps({f: library.features[f].definition()
                                  for f in library.features_of(t.tag)}, sort_keys=True)}
        for t in library.tags.values()])
    for frame in (assignments, evidence_frame):
        for column in ("cutoff", "period"):
            frame[column] = [cutoff if column == "cutoff" else compiled.period] * len(frame)
    counts = assignments.groupby("tag_id").size().to_dict() if len(assignments) else {}
    return TagResult(compiled.period, cutoff, assignments, evidence_frame, rules,
                     {t: int(counts.get(t, 0)) for t in library.tags},
                     round(time.perf_counter() - started, 3))


def write_tag_tables(con: duckdb.DuckDBPyConnection, result: TagResult) -> None:
    """Replace the period's rows of ``tag_assignments``, ``tag_evidence``, ``tag_rules``."""
    for name, frame in (("tag_assignments", result.assignments),
                        ("tag_evidence", result.evidence), ("tag_rules", result.rules)):
        if len(frame):
            replace_cutoff_frame(con, name, result.cutoff, frame)
        elif table_exists(con, name):
            con.execute(f"DELETE FROM {name} WHERE cutoff = ?", [result.cutoff])


# ---------------------------------------------------------------------------
# RDF
# ---------------------------------------------------------------------------

_XSD = str(XSD)
_RDF = str(RDF)


def _lit(value: Any) -> str:
    if isinstance(value, bool):
        return f'"{str(value).lower()}"^^<{_XSD}boolean>'
    if isinstance(value, int | float):
        return f'"{float(value)!r}"^^<{_XSD}double>'
    return json.dumps(str(value), ensure_ascii=False)


def tag_triples(library: RuleLibrary, result: TagResult) -> list[str]:
    """N-Triples: the rules, ``cc:hasTag`` per assignment, and each assignment's provenance
    as an ``rdf:Statement`` (``prov:wasDerivedFrom`` the rule version, ``dcterms:temporal``
    the period, ``prov:used`` one node per fired feature with its ``rdf:value``)."""
    lines = rule_graph(library).serialize(format="nt").splitlines()
    lines = [line for line in lines if line.strip()]
    period = result.period.strftime("%Y-%m")
    evidence = result.evidence[result.evidence["fired"].astype(bool)] if len(
        result.evidence) else result.evidence
    by_assignment: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for row in evidence.itertuples(index=False):
        value = row.value_number if row.value_number == row.value_number and \
            row.value_number is not None else row.value
        by_assignment.setdefault((row.customer_id, row.tag_id), []).append((row.feature, value))
    run = f"<{run_iri(result.assignments['run_id'].iloc[0])}>" if len(
        result.assignments) and result.assignments["run_id"].iloc[0] else None
    for k, row in enumerate(result.assignments.itertuples(index=False)):
        cust, tag = f"<{customer_iri(row.customer_id)}>", f"<{tag_iri(row.tag_id)}>"
        node = f"_:a{k}"
        lines += [
            f"{cust} <{CC.hasTag}> {tag} .",
            f"{node} <{_RDF}type> <{RDF.Statement}> .",
            f"{node} <{_RDF}type> <{PROV.Entity}> .",
            f"{node} <{_RDF}subject> {cust} .",
            f"{node} <{_RDF}predicate> <{CC.hasTag}> .",
            f"{node} <{_RDF}object> {tag} .",
            f"{node} <{PROV.wasDerivedFrom}> <{tag_rule_iri(row.rule_id)}> .",
            f"{node} <{DCTERMS.temporal}> {_lit(period)} .",
        ]
        if run:
            lines.append(f"{node} <{PROV.wasGeneratedBy}> {run} .")
        for m, (feature, value) in enumerate(by_assignment.get((row.customer_id, row.tag_id),
                                                               [])):
            ev = f"_:e{k}_{m}"
            lines += [f"{node} <{PROV.used}> {ev} .",
                      f"{ev} <{PROV.wasDerivedFrom}> <{business_feature_iri(feature)}> .",
                      f"{ev} <{_RDF}value> {_lit(value)} ."]
    return lines


def write_tag_triples(store_path: Path, library: RuleLibrary, result: TagResult) -> int:
    """Replace the tags in a (building snapshot's) Oxigraph store; returns triples loaded."""
    deletes = [
        f"DELETE {{ ?e ?p ?o }} WHERE {{ ?a <{_RDF}predicate> <{CC.hasTag}> ; "
        f"<{PROV.used}> ?e . ?e ?p ?o }}",
        f"DELETE {{ ?a ?p ?o }} WHERE {{ ?a <{_RDF}predicate> <{CC.hasTag}> ; ?p ?o }}",
        f"DELETE WHERE {{ ?s <{CC.hasTag}> ?o }}",
        f"DELETE {{ ?t <{CC.tagRule}> ?r }} WHERE {{ ?t <{CC.tagRule}> ?r }}",
    ]
    return replace_triples(Path(store_path), deletes, tag_triples(library, result))


# ---------------------------------------------------------------------------
# Snapshot level: derive, write, publish
# ---------------------------------------------------------------------------


def last_full_month(con: duckdb.DuckDBPyConnection) -> date:
    """The last month with usage or bills: the default period to tag."""
    for table, column in (("usage_monthly", "month"), ("bills", "period")):
        if table_exists(con, table):
            value = con.execute(f"SELECT max({column}) FROM {table}").fetchall()[0][0]
            if value is not None:
                return month_start(value)
    raise ValueError("the warehouse has no usage_monthly or bills to place a period")


def derive_snapshot(store: SnapshotStore, run_id: str, write: Any, *,
                    manifest_key: str) -> Snapshot:
    """Copy the current snapshot, let ``write(con, kg_path)`` add to it, publish it."""
    return store.derive(run_id, write, manifest_key=manifest_key)


def tag_snapshot(store: SnapshotStore, library: RuleLibrary | None = None, *,
                 period: date | None = None, run_id: str | None = None) -> Snapshot:
    """Tag every customer for ``period`` (default: the last month of data) and publish the
    assignments, evidence and rules (warehouse and knowledge graph) as a new snapshot."""
    library = library or current_library(store)
    run_id = run_id or f"tags-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"

    def write(con: duckdb.DuckDBPyConnection, kg_path: Path) -> dict[str, Any]:
        result = apply_tags(con, library, period or last_full_month(con), run_id=run_id)
        write_tag_tables(con, result)
        triples = write_tag_triples(kg_path, library, result) if kg_path.exists() else 0
        return {"period": str(result.period), "library": library.name,
                "library_version": library.version, "assignments": len(result.assignments),
                "counts": result.counts, "knowledge_graph_triples": triples,
                "seconds": result.seconds}

    return derive_snapshot(store, run_id, write, manifest_key="tags")


def customer_tags(con: duckdb.DuckDBPyConnection, customer_id: str,
                  cutoff: date | None = None) -> list[dict[str, Any]]:
    """A customer's tags with their provenance (latest tagged period unless ``cutoff``)."""
    if not table_exists(con, "tag_assignments"):
        return []
    if cutoff is None:
        cutoff = con.execute("SELECT max(cutoff) FROM tag_assignments").fetchall()[0][0]
    rows = con.execute(
        "SELECT a.tag_id, a.rule_id, a.rule_version, a.period, r.label, r.scheme, "
        "r.expression FROM tag_assignments a LEFT JOIN tag_rules r "
        "ON r.cutoff = a.cutoff AND r.tag_id = a.tag_id "
        "WHERE a.cutoff = ? AND a.customer_id = ? ORDER BY a.tag_id",
        [cutoff, customer_id]).df()
    ev = con.execute(
        "SELECT tag_id, feature, measure, value, fired FROM tag_evidence "
        "WHERE cutoff = ? AND customer_id = ? ORDER BY tag_id, feature",
        [cutoff, customer_id]).df() if table_exists(con, "tag_evidence") else pd.DataFrame(
        columns=["tag_id", "feature", "measure", "value", "fired"])
    out = []
    for row in rows.to_dict("records"):
        features = ev[ev["tag_id"] == row["tag_id"]].drop(columns="tag_id")
        out.append({**row, "features": features.to_dict("records")})
    return out


def tag_counts(con: duckdb.DuckDBPyConnection, cutoff: date | None = None
               ) -> list[dict[str, Any]]:
    """Customers per tag for a tagged period (latest by default)."""
    if not table_exists(con, "tag_rules"):
        return []
    if cutoff is None:
        cutoff = con.execute("SELECT max(cutoff) FROM tag_rules").fetchall()[0][0]
    has = table_exists(con, "tag_assignments")
    join = ("LEFT JOIN (SELECT tag_id, count(*) AS customers FROM tag_assignments "
            "WHERE cutoff = $c GROUP BY 1) a USING (tag_id)") if has else ""
    count = "coalesce(a.customers, 0)" if has else "0"
    return con.execute(
        f"SELECT r.tag_id, r.rule_id, r.rule_version, r.label, r.scheme, r.expression, "
        f"r.features, {count} AS customers FROM tag_rules r {join} WHERE r.cutoff = $c "
        f"ORDER BY r.scheme, r.tag_id", {"c": cutoff}).df().to_dict("records")


def iter_rules(library: RuleLibrary) -> Iterable[dict[str, Any]]:
    """The library's tags with their features, for listings."""
    for t in library.tags.values():
        yield {"tag_id": t.tag, "rule_id": t.rule_id, "version": t.version, "label": t.label,
               "scheme": t.scheme, "expression": t.expression,
               "features": library.features_of(t.tag)}
