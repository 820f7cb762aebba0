"""The callcircle vocabulary: OWL/RDFS terms, SHACL shapes and namespace constants.

Instance IRIs follow one scheme so that the knowledge-graph stage (which writes them
in SQL), the API and the insight stages agree without hand-building strings::

    https://id.callcircle.dev/{kind}/{segment}

``segment`` is the operator's identifier percent-encoded as a single path segment
(every byte outside ``A-Z a-z 0-9 - . _ ~`` becomes ``%XX``, UTF-8, upper-case hex),
except for phone numbers, whose segment is the E.164 digits without ``+``
(``+8613800138000`` → ``number/8613800138000``). A call tie is named after its two
numbers in warehouse order (``tie/{a}/{b}`` with ``a < b`` as E.164 strings).
"""

from __future__ import annotations

import re
from importlib import resources
from urllib.parse import quote

from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SH, SKOS, XSD

__all__ = [
    "CC", "DCTERMS", "FOAF", "ID", "ONTOLOGY_FILE", "OWL", "PROV", "RDF", "RDFS", "SCHEMA",
    "SH", "SHAPES_FILE", "SKOS", "XSD", "bill_iri", "bind_prefixes", "business_feature_iri",
    "campaign_contact_iri", "campaign_iri", "campaign_response_iri", "churn_event_iri",
    "circle_iri", "customer_iri", "id_segment", "interaction_iri", "load_ontology",
    "load_shapes", "number_iri", "number_segment", "ontology_path", "operator_iri", "payment_iri",
    "product_iri", "quarantine_count_iri", "run_iri", "segment_iri", "segmentation_iri",
    "snapshot_iri", "source_file_iri", "subscription_iri", "tag_iri", "tag_rule_iri",
    "tag_scheme_iri", "tie_iri", "value_tier_iri",
]

CC = Namespace("https://callcircle.dev/ontology#")
"""The callcircle vocabulary (classes and properties)."""
ID = Namespace("https://id.callcircle.dev/")
"""Base of every instance IRI."""
SCHEMA = Namespace("https://schema.org/")

ONTOLOGY_FILE = "callcircle.ttl"
SHAPES_FILE = "shapes.ttl"

PREFIXES: dict[str, Namespace] = {
    "cc": CC, "id": ID, "prov": PROV, "skos": SKOS, "foaf": FOAF, "schema": SCHEMA,
    "dcterms": DCTERMS, "owl": OWL, "rdfs": RDFS, "xsd": XSD, "sh": SH,
}

_UNRESERVED = "-._~"
_E164 = re.compile(r"\+?[0-9]+")


def bind_prefixes(graph: Graph) -> Graph:
    """Bind the project's prefixes so Turtle output and SPARQL can use ``cc:``, ``id:``..."""
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace, override=True)
    return graph


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def load_ontology() -> Graph:
    """The OWL/RDFS vocabulary as a fresh in-memory graph."""
    return bind_prefixes(Graph()).parse(data=_read(ONTOLOGY_FILE), format="turtle")


def load_shapes() -> Graph:
    """The SHACL shapes the ingest's knowledge graph must conform to."""
    return bind_prefixes(Graph()).parse(data=_read(SHAPES_FILE), format="turtle")


def ontology_path() -> str:
    """Filesystem path of the ontology Turtle file (for bulk loaders that read files)."""
    return str(resources.files(__name__).joinpath(ONTOLOGY_FILE))


def id_segment(identifier: str) -> str:
    """An operator identifier as one IRI path segment (percent-encoded UTF-8)."""
    return quote(str(identifier), safe="")


def number_segment(e164: str) -> str:
    """E.164 digits without '+'; anything that is not a plain number is percent-encoded."""
    if _E164.fullmatch(e164):
        return e164.lstrip("+")
    return id_segment(e164)


def _iri(kind: str, identifier: str) -> URIRef:
    return ID[f"{kind}/{id_segment(identifier)}"]


def customer_iri(customer_id: str) -> URIRef:
    return _iri("customer", customer_id)


def subscription_iri(subscription_id: str) -> URIRef:
    return _iri("subscription", subscription_id)


def number_iri(e164: str) -> URIRef:
    return ID[f"number/{number_segment(e164)}"]


def tie_iri(a: str, b: str) -> URIRef:
    """The call tie of two numbers, in either order (the smaller E.164 string comes first)."""
    a, b = sorted((a, b))
    return ID[f"tie/{number_segment(a)}/{number_segment(b)}"]


def product_iri(product_id: str) -> URIRef:
    return _iri("product", product_id)


def bill_iri(bill_id: str) -> URIRef:
    return _iri("bill", bill_id)


def payment_iri(payment_id: str) -> URIRef:
    return _iri("payment", payment_id)


def interaction_iri(interaction_id: str) -> URIRef:
    return _iri("interaction", interaction_id)


def campaign_iri(campaign_id: str) -> URIRef:
    return _iri("campaign", campaign_id)


def campaign_contact_iri(contact_id: str) -> URIRef:
    return _iri("campaign-contact", contact_id)


def campaign_response_iri(response_id: str) -> URIRef:
    return _iri("campaign-response", response_id)


def churn_event_iri(event_id: str) -> URIRef:
    return _iri("churn-event", event_id)


def operator_iri(name: str) -> URIRef:
    """An operator by its name as written in the source (carrier name, port-out recipient)."""
    return _iri("operator", name)


def circle_iri(circle_id: str | int) -> URIRef:
    return _iri("circle", str(circle_id))


def segment_iri(segment_id: str | int) -> URIRef:
    return _iri("segment", str(segment_id))


def segmentation_iri(segmentation_id: str) -> URIRef:
    return _iri("segmentation", segmentation_id)


def tag_iri(tag_id: str) -> URIRef:
    return _iri("tag", tag_id)


def tag_scheme_iri(scheme_id: str) -> URIRef:
    return _iri("tag-scheme", scheme_id)


def tag_rule_iri(rule_id: str) -> URIRef:
    return _iri("tag-rule", rule_id)


def business_feature_iri(feature: str) -> URIRef:
    return _iri("feature", feature)


def value_tier_iri(tier: str) -> URIRef:
    return _iri("value-tier", tier)


def run_iri(run_id: str) -> URIRef:
    return _iri("run", run_id)


def source_file_iri(run_id: str, file_name: str, entity: str) -> URIRef:
    """A source file as read by one run for one contract entity (the same file read again,
    or read through a mapping for several entities, is a new ``prov:Entity`` each time)."""
    return ID[f"run/{id_segment(run_id)}/file/{id_segment(file_name)}/{id_segment(entity)}"]


def quarantine_count_iri(run_id: str, reason: str) -> URIRef:
    return ID[f"run/{id_segment(run_id)}/quarantine/{id_segment(reason)}"]


def snapshot_iri(snapshot_id: str) -> URIRef:
    return _iri("snapshot", snapshot_id)
