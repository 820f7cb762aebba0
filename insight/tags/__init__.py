"""Business features and customer tags (客户标签) as data: rules in, SQL out.

A **business feature** is a condition over one *measure* of a customer within a period
("calls to the traffic radio hotline, last month, at least 3"). A **tag** is a boolean
expression (``and``/``or``/``not``, parentheses) over business features and other tags
("student = often_active_on_campus and joined_campus_card_campaign"). The marketing team
edits these as YAML (or Turtle); nothing in this package names a tag.

Measures are the only SQL (:mod:`~insight.tags.measures`), written once, and form a
whitelist: a rule (:mod:`~insight.tags.rules`) picks a measure by name and supplies
thresholds, windows and lists of numbers or codes, which are bound as query parameters. The
operator's library is kept as versioned files (:mod:`~insight.tags.library`) and compiles to
**one** SQL statement per period (:mod:`~insight.tags.compile`) that evaluates every feature
and every tag for every customer; assignments and their evidence (rule version, each
feature's value and whether it fired, the period) are written to ``tag_assignments`` and
``tag_evidence`` (:mod:`~insight.tags.apply`) and, as RDF, to the knowledge graph
(:mod:`~insight.tags.rdf`: ``cc:hasTag`` plus an ``rdf:Statement`` per assignment with
PROV-O provenance).
"""

from insight.tags.apply import (
    TagResult,
    apply_tags,
    customer_tags,
    last_full_month,
    tag_counts,
    tag_snapshot,
    write_tag_tables,
)
from insight.tags.compile import CompiledTags, compile_tags, required_tables
from insight.tags.library import (
    SCHEMES,
    current_library,
    edit_library,
    iter_rules,
    label_in,
    library_from_turtle,
    library_to_turtle,
    load_library,
    parse_library,
    rule_graph,
    save_library,
    scheme_name,
    starter_library,
)
from insight.tags.measures import MEASURES, Measure
from insight.tags.rdf import tag_triples, write_tag_triples
from insight.tags.rules import BusinessFeature, RuleError, RuleLibrary, TagRule, validate_library

__all__ = [
    "MEASURES", "SCHEMES", "BusinessFeature", "CompiledTags", "Measure", "RuleError", "RuleLibrary",
    "TagResult", "TagRule", "apply_tags", "compile_tags", "current_library", "customer_tags",
    "edit_library", "iter_rules", "label_in", "last_full_month", "library_from_turtle",
    "library_to_turtle", "load_library", "parse_library", "required_tables",
    "rule_graph", "save_library", "scheme_name", "starter_library", "tag_counts", "tag_snapshot",
    "tag_triples", "validate_library", "write_tag_tables", "write_tag_triples",
]
