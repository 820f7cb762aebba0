"""The vocabulary and shapes are consistent with each other and with the source contract."""

from __future__ import annotations

import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS, SH, SKOS

import ontology
from graph.knowledge import CUSTOMER_CLASSES, PRODUCT_CLASSES
from ingest.contract import (
    CHANNELS,
    CUSTOMER_TYPES,
    ENTITIES,
    ENTITY_ORDER,
    PAYMENT_TYPES,
    PRODUCT_TYPES,
)
from ontology import CC, load_ontology, load_shapes

STANDARD = (
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://www.w3.org/2000/01/rdf-schema#",
    "http://www.w3.org/2002/07/owl#", "http://www.w3.org/ns/shacl#",
    "http://www.w3.org/2004/02/skos/core#", "http://www.w3.org/ns/prov#",
    "http://xmlns.com/foaf/0.1/", "http://purl.org/dc/terms/", "https://schema.org/",
)
"""Vocabularies reused as they are: their own documents declare them."""


@pytest.fixture(scope="module")
def vocabulary() -> Graph:
    return load_ontology()


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return load_shapes()


def _ours(term: URIRef) -> bool:
    return str(term).startswith(str(CC))


def _declared_classes(graph: Graph) -> set[URIRef]:
    return {c for c in graph.subjects(RDF.type, OWL.Class) if isinstance(c, URIRef)}


def _used_properties(vocabulary: Graph, shapes: Graph) -> set[URIRef]:
    used = {p for p in vocabulary.predicates() if isinstance(p, URIRef)}
    used |= {p for p in shapes.predicates() if isinstance(p, URIRef)}
    used |= {p for p in shapes.objects(None, SH.path) if isinstance(p, URIRef)}
    used |= {p for p in vocabulary.subjects(RDF.type, OWL.ObjectProperty)}
    used |= {p for p in vocabulary.subjects(RDF.type, OWL.DatatypeProperty)}
    return used


def test_both_files_parse_and_have_substance(vocabulary: Graph, shapes: Graph) -> None:
    assert len(vocabulary) > 500 and len(shapes) > 300
    required = {
        "Customer", "IndividualCustomer", "EnterpriseCustomer", "GroupCustomer", "Subscription",
        "PhoneNumber", "OnNetNumber", "OffNetNumber", "Product", "Plan", "PrepaidPlan",
        "PostpaidPlan", "Bundle", "ValueAddedService", "Channel", "Interaction", "Campaign",
        "CampaignContact", "CampaignResponse", "Bill", "Payment", "ChurnEvent", "Segment", "Tag",
        "BusinessFeature", "TagRule", "CallCircle", "ValueTier", "Operator", "CallTie",
        "IngestRun", "SourceFile", "Snapshot",
    }
    assert {CC[name] for name in required} <= _declared_classes(vocabulary)
    for name in ("Store", "CallCentre", "Web", "App", "SMS", "AccountManager"):
        assert (CC[name], RDF.type, CC.Channel) in vocabulary
    later = ("churnRiskScore", "churnProbability", "churnReason", "valueTier", "lifetimeValue",
             "networkValue", "inSegment", "inCircle", "influencer", "circleSize",
             "circleDensity", "callsWith")
    for name in later:
        assert (CC[name], RDFS.domain, None) in vocabulary, name


def test_every_property_we_use_has_domain_and_range(vocabulary: Graph, shapes: Graph) -> None:
    missing = [
        str(p) for p in sorted(_used_properties(vocabulary, shapes))
        if _ours(p) and not (
            vocabulary.value(p, RDFS.domain) is not None
            and vocabulary.value(p, RDFS.range) is not None
        )
    ]
    assert missing == []
    undeclared = [str(p) for p in _used_properties(vocabulary, shapes)
                  if not _ours(p) and not str(p).startswith(STANDARD)]
    assert undeclared == []


def test_domains_and_ranges_name_declared_classes(vocabulary: Graph) -> None:
    classes = _declared_classes(vocabulary)
    for prop in set(vocabulary.subjects(RDFS.domain, None)) | set(
            vocabulary.subjects(RDFS.range, None)):
        if not _ours(prop):
            continue
        for term in (vocabulary.value(prop, RDFS.domain), vocabulary.value(prop, RDFS.range)):
            if isinstance(term, BNode):
                members = Collection(vocabulary, vocabulary.value(term, OWL.unionOf))
                assert all(m in classes for m in members), prop
            elif _ours(term):
                assert term in classes, (prop, term)


def test_every_shape_targets_a_declared_class(vocabulary: Graph, shapes: Graph) -> None:
    classes = _declared_classes(vocabulary)
    targets = set(shapes.objects(None, SH.targetClass))
    assert targets and targets <= classes
    for cls in shapes.objects(None, SH["class"]):
        assert cls in classes, cls
    for shape in shapes.subjects(RDF.type, SH.NodeShape):
        assert shapes.value(shape, SH.targetClass) is not None, shape


def _in_values(shapes: Graph, node: BNode) -> list:
    return list(Collection(shapes, shapes.value(node, SH["in"])))


def test_enumerations_match_the_contract(vocabulary: Graph, shapes: Graph) -> None:
    checked = 0
    for prop_shape in shapes.subjects(SH["in"], None):
        column_ref = shapes.value(prop_shape, CC.sourceColumn)
        if column_ref is None:
            continue
        entity, column = str(column_ref).split(".")
        values = _in_values(shapes, prop_shape)
        if all(isinstance(v, URIRef) for v in values):
            values = [str(vocabulary.value(v, SKOS.notation)) for v in values]
        else:
            values = [str(v) for v in values]
        assert sorted(values) == sorted(ENTITIES[entity].column(column).values), column_ref
        checked += 1
    assert checked >= 12
    channel_notations = {str(n) for c in vocabulary.subjects(RDF.type, CC.Channel)
                         for n in vocabulary.objects(c, SKOS.notation)}
    assert channel_notations == set(CHANNELS)
    entity_shape = next(s for s in shapes.subjects(SH.path, CC.sourceEntity))
    assert [str(v) for v in _in_values(shapes, entity_shape)] == list(ENTITY_ORDER)


def test_source_columns_exist_in_the_contract(shapes: Graph) -> None:
    derived = {"numbers", "call_edges", "circles"}  # warehouse tables, not source files
    for ref in shapes.objects(None, CC.sourceColumn):
        entity, column = str(ref).split(".")
        if entity in derived:
            continue
        ENTITIES[entity].column(column)  # raises KeyError if the contract has no such column


def test_kinds_of_customers_and_products_cover_the_contract(vocabulary: Graph) -> None:
    assert set(CUSTOMER_CLASSES) == set(CUSTOMER_TYPES)
    assert {t for t, _ in PRODUCT_CLASSES} == set(PRODUCT_TYPES)
    assert {p for _, p in PRODUCT_CLASSES if p} == set(PAYMENT_TYPES)
    for cls in [*CUSTOMER_CLASSES.values(), *PRODUCT_CLASSES.values()]:
        assert (cls, RDF.type, OWL.Class) in vocabulary


def test_reused_vocabularies_are_aligned(vocabulary: Graph) -> None:
    prov = "http://www.w3.org/ns/prov#"
    foaf = "http://xmlns.com/foaf/0.1/"
    assert (CC.IngestRun, RDFS.subClassOf, URIRef(prov + "Activity")) in vocabulary
    assert (CC.SourceFile, RDFS.subClassOf, URIRef(prov + "Entity")) in vocabulary
    assert (CC.Snapshot, RDFS.subClassOf, URIRef(prov + "Entity")) in vocabulary
    assert (CC.IndividualCustomer, RDFS.subClassOf, URIRef(foaf + "Person")) in vocabulary
    assert (CC.EnterpriseCustomer, RDFS.subClassOf, URIRef(foaf + "Organization")) in vocabulary
    assert (CC.Tag, RDFS.subClassOf, SKOS.Concept) in vocabulary
    assert (CC.Segment, RDFS.subClassOf, SKOS.Concept) in vocabulary
    assert "TMF629" in str(vocabulary.value(CC.Customer, CC.tmfTerm))


@pytest.mark.parametrize(("build", "arg", "expected"), [
    (ontology.customer_iri, "C1", "customer/C1"),
    (ontology.customer_iri, "C/4 x", "customer/C%2F4%20x"),
    (ontology.customer_iri, "客户1", "customer/%E5%AE%A2%E6%88%B71"),
    (ontology.number_iri, "+8613800138000", "number/8613800138000"),
    (ontology.number_iri, "anon#12", "number/anon%2312"),
    (ontology.subscription_iri, "S-1.2_3~", "subscription/S-1.2_3~"),
    (ontology.circle_iri, 17, "circle/17"),
    (ontology.operator_iri, "China Unicom", "operator/China%20Unicom"),
])
def test_instance_iris(build, arg, expected: str) -> None:
    assert build(arg) == URIRef(f"https://id.callcircle.dev/{expected}")


def test_tie_iri_is_unordered() -> None:
    a, b = "+8613800000002", "+4512345678"
    assert ontology.tie_iri(a, b) == ontology.tie_iri(b, a)
    assert ontology.tie_iri(a, b).endswith("tie/4512345678/8613800000002")


def test_literal_kinds_in_shapes_are_xsd(shapes: Graph) -> None:
    for datatype in shapes.objects(None, SH.datatype):
        assert str(datatype).startswith("http://www.w3.org/2001/XMLSchema#"), datatype
    for value in shapes.objects(None, SH.minInclusive):
        assert isinstance(value, Literal)
