"""Rules: business features, tags and the library that holds them; the expression language
(``and``/``or``/``not``, parentheses) and the validation that names the rule at fault."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from insight.tags.measures import BOOLEAN, CATEGORY, MEASURES, NUMBER, NUMERIC_OPS, OPERATORS

NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
E164 = re.compile(r"\+[1-9][0-9]{5,14}")


class RuleError(ValueError):
    """A rule or feature the library refuses; the message names it and the problem."""


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
    labels: Mapping[str, str] = field(default_factory=dict)
    """The label in other locales (``zh-CN`` → text), the operator's own words."""

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"measure": self.measure, "op": self.op, "value": self.value,
                               "months": self.months}
        if self.label:
            out["label"] = self.label
        if self.labels:
            out["labels"] = dict(self.labels)
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
    labels: Mapping[str, str] = field(default_factory=dict)
    """The label in other locales (``zh-CN`` → text), the operator's own words."""

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
            for ref in expression_names(parse_expression(self.tags[name].expression, name)):
                (out.add(ref) if ref in self.features else stack.append(ref))
        return sorted(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version,
            "features": {n: f.definition() for n, f in self.features.items()},
            "tags": {n: {"when": t.expression, "version": t.version, "label": t.label,
                         "scheme": t.scheme, "description": t.description,
                         **({"labels": dict(t.labels)} if t.labels else {})}
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


def parse_expression(text: str, rule: str) -> Any:
    """Expression → nested tuples: ('and', a, b), ('or', a, b), ('not', a), ('name', n)."""
    tokens = _tokens(text, rule)
    pos = 0

    def peek() -> str | None:
        return tokens[pos].lower() if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def chain(op: str, operand: Callable[[], Any]) -> Any:
        """``operand (op operand)*``, grouped from the left."""
        node = operand()
        while peek() == op:
            take()
            node = (op, node, operand())
        return node

    def disjunction() -> Any:
        return chain("or", conjunction)

    def conjunction() -> Any:
        return chain("and", negation)

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


def expression_names(node: Any) -> list[str]:
    """The feature and tag names a parsed expression refers to, in order."""
    if node[0] == "name":
        return [node[1]]
    return [n for child in node[1:] for n in expression_names(child)]


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
    ops = OPERATORS[measure.kind]
    if f.op not in ops:
        needs = "a number" if f.op in NUMERIC_OPS else "a category"
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
        refs = expression_names(parse_expression(rule.expression, name))
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


def tag_order(library: RuleLibrary) -> list[str]:
    """Tags in an order where each comes after the tags it uses (the compile order)."""
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for ref in expression_names(parse_expression(library.tags[name].expression, name)):
            if ref in library.tags:
                visit(ref)
        order.append(name)

    for name in sorted(library.tags):
        visit(name)
    return order
