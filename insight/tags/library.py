"""The rule library as files: YAML (and Turtle, the knowledge graph's terms), the starter
library shipped with the product, and the operator's saved versions beside the snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from rdflib import Graph, Literal
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

from graph.locales import N_, normalize, translator
from graph.snapshot import SnapshotStore
from insight.tags.measures import BOOLEAN, MEASURES
from insight.tags.rules import (
    BusinessFeature,
    RuleError,
    RuleLibrary,
    TagRule,
    expression_names,
    parse_expression,
    validate_library,
)
from ontology import (
    CC,
    bind_prefixes,
    business_feature_iri,
    tag_iri,
    tag_rule_iri,
    tag_scheme_iri,
)

STARTER_FILE = Path(__file__).parent.parent / "rules" / "starter.yaml"


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
    labels = own_labels(f"business feature {name!r}", spec.pop("labels", None))
    lists = {}
    for key in list(spec):
        values = spec.pop(key)
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list):
            raise RuleError(f"business feature {name!r}: unknown key {key!r}")
        lists[key] = tuple(values)
    return BusinessFeature(name, measure, str(op), value, months, label, lists, labels)


def own_labels(what: str, spec: object) -> dict[str, str]:
    """A rule's ``labels: {zh-CN: ...}``, keyed by the locale's tag (``zh_CN`` → ``zh-CN``)."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise RuleError(f"{what}: labels must map a locale to a label, got {spec!r}")
    labels = {}
    for locale, text in spec.items():
        try:
            labels[normalize(str(locale))] = str(text)
        except ValueError as exc:
            raise RuleError(f"{what}: {exc}") from None
    return labels


def label_in(label: str, locale: str | None, labels: Mapping[str, str] | None = None) -> str:
    """A tag's or feature's label in ``locale``: the rule's own ``labels`` first, then the
    catalog (the starter library's labels are messages), else the label as written."""
    locale = normalize(locale)
    if labels and locale in labels:
        return labels[locale]
    return translator(locale).gettext(label) if label else label


SCHEMES: dict[str, str] = {
    "revenue_contribution": N_("revenue contribution"),
    "product_preference": N_("product preference"),
    "service_preference": N_("service preference"),
    "channel_preference": N_("channel preference"),
    "lifecycle": N_("lifecycle"), "demographics": N_("demographics"),
    "network": N_("network"), "general": N_("general"),
}
"""The starter library's tag schemes (客户标签 groups) by name, as analysts read them."""


def scheme_name(scheme: str, locale: str | None = None) -> str:
    """A tag scheme as analysts read it in ``locale``; a scheme of the operator's own is
    shown as written (underscores as spaces)."""
    words = SCHEMES.get(scheme)
    if words is None:
        return scheme.replace("_", " ")
    return translator(locale).gettext(words)


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
                                  str(spec.get("description", "")),
                                  own_labels(f"tag {name!r}", spec.get("labels")))
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


def _saved_version(path: Path) -> int:
    return int(path.stem.split("-v")[-1])


def _library_files(store: SnapshotStore) -> list[Path]:
    folder = store.rules_dir
    if not folder.exists():
        return []
    return sorted(folder.glob("library-v*.yaml"), key=_saved_version)


def current_library(store: SnapshotStore) -> RuleLibrary:
    """The operator's latest saved library (every version is kept), else the starter one."""
    files = _library_files(store)
    return load_library(files[-1]) if files else starter_library()


def save_library(store: SnapshotStore, library: RuleLibrary) -> Path:
    """Save a library version beside the snapshots (they are immutable; rules are not)."""
    folder = store.rules_dir
    folder.mkdir(parents=True, exist_ok=True)
    files = _library_files(store)
    if files and _saved_version(files[-1]) >= library.version:
        library = replace(library, version=_saved_version(files[-1]) + 1)
    path = folder / f"library-v{library.version}.yaml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(library.to_yaml(), encoding="utf-8")
    tmp.replace(path)
    return path


def edit_library(store: SnapshotStore,
                 change: Callable[[RuleLibrary], RuleLibrary]) -> RuleLibrary:
    """Save ``change`` of the current library as its next version and return it as saved.

    A change the library refuses raises :class:`RuleError` before anything is written, so
    the saved library stays as it was (validated here too: a change may have edited the
    library's mappings in place, which its constructor never saw).
    """
    old = current_library(store)
    library = change(old)
    validate_library(library)
    if library.version <= old.version:
        library = replace(library, version=old.version + 1)
    return load_library(save_library(store, library))


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
        for locale, text in rule.labels.items():
            g.add((tag, SKOS.altLabel, Literal(text, lang=locale)))
        g.add((tag, SKOS.inScheme, scheme))
        if rule.description:
            g.add((tag, SKOS.definition, Literal(rule.description)))
        g.add((tag, CC.tagRule, iri))
        g.add((iri, RDF.type, CC.TagRule))
        g.add((iri, DCTERMS.identifier, Literal(rule.rule_id)))
        g.add((iri, OWL.versionInfo, Literal(rule.version)))
        g.add((iri, CC.ruleExpression, Literal(rule.expression)))
        g.add((iri, DCTERMS.isVersionOf, tag))
        for ref in expression_names(parse_expression(rule.expression, name)):
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
                             str(definition) if definition else "",
                             {normalize(str(label.language)): str(label)
                              for label in g.objects(tag, SKOS.altLabel)
                              if isinstance(label, Literal) and label.language})
    name, version = "library", 1
    for lib in g.subjects(RDF.type, CC.TagScheme):
        if (lib, OWL.versionInfo, None) in g:
            name = str(g.value(lib, DCTERMS.identifier))
            version = int(g.value(lib, OWL.versionInfo))
    return RuleLibrary(features, tags, name, version)


def iter_rules(library: RuleLibrary) -> Iterable[dict[str, Any]]:
    """The library's tags with their features, for listings."""
    for t in library.tags.values():
        yield {"tag_id": t.tag, "rule_id": t.rule_id, "version": t.version, "label": t.label,
               "scheme": t.scheme, "expression": t.expression,
               "features": library.features_of(t.tag)}
