"""Tags in the knowledge graph: ``cc:hasTag`` per assignment and, per assignment, an
``rdf:Statement`` with its PROV-O provenance (rule version, period, the features that fired)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdflib.namespace import DCTERMS, PROV, RDF, XSD

from graph.knowledge import replace_triples
from insight.tags.library import rule_graph
from insight.tags.rules import RuleLibrary
from ontology import CC, business_feature_iri, customer_iri, run_iri, tag_iri, tag_rule_iri

if TYPE_CHECKING:
    from insight.tags.apply import TagResult

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

