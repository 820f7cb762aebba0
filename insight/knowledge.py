"""Scores, reasons, value tiers and segments into the snapshot's knowledge graph.

Written with the ontology's insight terms (``cc:churnProbability``, ``cc:churnReason``,
``cc:valueTier``, ``cc:lifetimeValue``, ``cc:networkValue``, ``cc:inSegment``) on the IRIs
``ontology`` builds, so SPARQL can ask "platinum customers whose risk is above 0.3, with
their reasons". The triples are written as N-Triples text and bulk-loaded into Oxigraph
(building term objects one by one is 5-10× slower, see DESIGN.md); earlier insight
values in the copied store are deleted first, as those properties are functional.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from graph.catalogue import reason_texts
from graph.knowledge import replace_triples
from ontology import (
    CC,
    customer_iri,
    segment_iri,
    segmentation_iri,
    subscription_iri,
    value_tier_iri,
)

__all__ = ["INSIGHT_PREDICATES", "write_insight_triples"]

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
SKOS = "http://www.w3.org/2004/02/skos/core#"
INSIGHT_PREDICATES = ("churnProbability", "churnReason", "valueTier", "currentValue",
                      "lifetimeValue", "networkValue", "inSegment")


def _string(text: str) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def _lines(subjects: Iterable[str], predicate: str, objects: Iterable[str]) -> list[str]:
    return [f"<{s}> <{predicate}> {o} ." for s, o in zip(subjects, objects, strict=True)]


def _double(values: pd.Series) -> list[str]:
    return [f'"{float(v)!r}"^^<{XSD}double>' for v in values]


def _decimal(values: pd.Series) -> list[str]:
    return [f'"{float(v):.2f}"^^<{XSD}decimal>' for v in values]


def insight_ntriples(tables: dict[str, pd.DataFrame]) -> list[str]:
    """The N-Triples lines for one scoring run's tables."""
    lines: list[str] = []
    scores = tables["churn_scores"]
    subs = [str(subscription_iri(s)) for s in scores["subscription_id"]]
    lines += _lines(subs, str(CC.churnProbability), _double(scores["churn_risk"]))
    reasons = [(s, text) for s, stored in zip(subs, scores["reasons"], strict=True)
               for text in reason_texts(stored)]
    lines += _lines([s for s, _ in reasons], str(CC.churnReason),
                    [_string(text) for _, text in reasons])
    customers = tables["customer_value"]
    cust = [str(customer_iri(c)) for c in customers["customer_id"]]
    lines += _lines(cust, str(CC.churnProbability), _double(customers["churn_risk"]))
    lines += _lines(cust, str(CC.valueTier),
                    [f"<{value_tier_iri(t)}>" for t in customers["value_tier"]])
    lines += _lines(cust, str(CC.currentValue), _decimal(customers["monthly_revenue"]))
    lines += _lines(cust, str(CC.lifetimeValue), _decimal(customers["clv"]))
    lines += _lines(cust, str(CC.networkValue), _decimal(customers["network_value"]))
    for tier in customers["value_tier"].unique():
        iri = value_tier_iri(tier)
        lines += [f"<{iri}> <{RDF_TYPE}> <{CC.ValueTier}> .",
                  f"<{iri}> <{SKOS}inScheme> <{CC.ValueTiers}> .",
                  f"<{iri}> <{SKOS}prefLabel> {_string(tier)} ."]
    segments = tables["segments"]
    scheme = segmentation_iri(f"behaviour-{segments['cutoff'].iloc[0]}") if len(segments) else None
    for row in segments.itertuples(index=False):
        iri = segment_iri(int(row.segment_id))
        lines += [f"<{iri}> <{RDF_TYPE}> <{CC.Segment}> .",
                  f"<{iri}> <{SKOS}prefLabel> {_string(f'segment {row.segment_id}')} .",
                  f"<{iri}> <{SKOS}definition> {_string(row.profile)} .",
                  f"<{iri}> <{SKOS}inScheme> <{scheme}> ."]
    if scheme is not None:
        lines.append(f"<{scheme}> <{RDF_TYPE}> <{CC.Segmentation}> .")
    members = tables["segment_members"].drop_duplicates(["customer_id", "segment_id"])
    lines += _lines([str(customer_iri(c)) for c in members["customer_id"]], str(CC.inSegment),
                    [f"<{segment_iri(int(s))}>" for s in members["segment_id"]])
    return lines


def write_insight_triples(store_path: Path, tables: dict[str, pd.DataFrame]) -> int:
    """Replace the insight values in the (building snapshot's) Oxigraph store; returns the
    number of triples loaded."""
    deletes = [f"DELETE WHERE {{ ?s <{CC[name]}> ?o }}" for name in INSIGHT_PREDICATES]
    deletes.append(f"DELETE WHERE {{ ?s <{SKOS}definition> ?o . ?s a <{CC.Segment}> }}")
    return replace_triples(Path(store_path), deletes, insight_ntriples(tables))
