"""The feature catalogue: one declaration per subscriber feature, and reasons as stored.

Each feature the churn feature table (``insight.features``) or ``graph_features``
(``graph.features``) writes is declared once here: its group, what it means, the phrase a
churn reason reads (``insight.churn.PHRASES``), the ontology property the knowledge graph
states it with (``graph.knowledge``), and whether the API shows it (``GraphFeatures`` in
``api.schema.circles``). Those are derived from ``FEATURES``; a column without a
declaration fails ``tests/test_catalogue.py``.

It lives in ``graph`` because ``graph.knowledge`` needs the predicates and ``graph`` may
not import ``insight``; ``insight`` and ``api`` import ``graph``. Not in ``ontology``,
which holds the vocabulary only, not phrases or API choices.

A churn reason is one feature's push on a subscriber's risk: ``{"feature", "value",
"contribution", "text"}`` (``ChurnRiskModel.reasons``). ``churn_scores.reasons`` stores a
subscriber's reasons once, as a JSON list, strongest first; the API, the report and the
knowledge graph read them with :func:`reason_texts` and :func:`reason_features`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rdflib import URIRef

from graph.locales import N_, translator
from ontology import CC

__all__ = ["API_FEATURES", "FEATURES", "PREDICATES", "TOPICS", "Feature", "dump_reasons",
           "feature_label", "group", "load_reasons", "reason_features", "reason_texts"]


@dataclass(frozen=True)
class Feature:
    """One feature column, declared once."""

    name: str
    group: str
    """``FeatureSet.groups`` key: plan, billing, service, behaviour, graph (or export)."""
    description: str
    phrase: str | None = None
    """Reason text; ``{v}`` is the subscriber's value, in ``str.format`` syntax."""
    predicate: URIRef | None = None
    """Ontology property of the subscriber's number in the knowledge graph, if stated."""
    api: bool = False
    """A field of the API's ``GraphFeatures``."""
    api_doc: str | None = None
    """That field's description in the GraphQL schema, where it has one."""
    model_input: bool = True
    """False for columns that are row filters or raw attributes, not churn signals."""
    topic: str | None = None
    """Features saying the same thing in other words share a topic (contacts who left,
    complaints, tenure). A churn reason is one topic: its push is the sum of its features'
    contributions, its words those of the feature pushing most — so one cause told by
    several correlated columns is neither split into small reasons nor repeated."""
    label: str | None = None
    """The short name an analyst reads (a catalog msgid: 交往圈规模 in zh-CN); the column
    name stays the identifier."""


def _f(name: str, group: str, description: str, phrase: str | None = None,
       **kw: Any) -> Feature:
    return Feature(name, group, description, phrase, **kw)


FEATURES: dict[str, Feature] = {f.name: f for f in [
    # plan and tenure (as of the cut-off)
    _f("plan", "plan", "Product id of the line's plan.", "on plan {v}", label=N_("plan")),
    _f("payment_type", "plan", "prepaid or postpaid.", "{v} plan", label=N_("payment type")),
    _f("plan_type", "plan", "Product type of the plan.", "{v} product", label=N_("product type")),
    _f("monthly_fee", "plan", "The plan's monthly fee.", "plan fee ¥{v:.0f}",
       label=N_("monthly plan fee")),
    _f("tenure_months", "plan", "Months since the line started.", "{v:.0f} months with us",
       topic="tenure", label=N_("months on the network")),
    _f("customer_type", "plan", "individual, enterprise or group.", label=N_("customer type")),
    _f("region", "plan", "The customer's region.", "lives in {v}", label=N_("region")),
    _f("age_years", "plan", "The customer's age.", "aged {v:.0f}", label=N_("age")),
    _f("customer_tenure_months", "plan", "Months since the customer joined.",
       "customer for {v:.0f} months", topic="tenure", label=N_("months as a customer")),
    _f("lines", "plan", "Lines the customer holds.", "{v:.0f} lines on the account",
       label=N_("lines on the account")),
    # billing
    _f("arpu", "billing", "Mean bill over the last 3 periods.", "monthly spend ¥{v:.0f}",
       label=N_("monthly spend (ARPU)")),
    _f("arpu_last", "billing", "The last bill.", label=N_("last bill")),
    _f("arpu_trend", "billing", "Last bill against the earlier ones, minus 1.",
       "spend changed by {v:+.0%} over 3 months", label=N_("spend trend")),
    _f("bill_shock", "billing", "Last bill over the earlier ones' mean.",
       "last bill {v:.1f}× their usual", label=N_("bill shock")),
    _f("arrears", "billing", "Unpaid balance on the last bill.", "arrears of ¥{v:.0f}",
       label=N_("arrears")),
    _f("late_payments_3m", "billing", "Bills due in 3 months paid late or not at all.",
       "{v:.0f} late payments in 3 months", label=N_("late payments, 3 months")),
    _f("payment_delay_days", "billing", "Mean days paid after the due date.",
       "pays {v:.0f} days late on average", label=N_("days paid late")),
    _f("topups_90d", "billing", "Top-ups in 90 days.", "{v:.0f} top-ups in 90 days",
       label=N_("top-ups, 90 days")),
    _f("topup_amount_90d", "billing", "Amount topped up in 90 days.",
       label=N_("top-up amount, 90 days")),
    _f("days_since_topup", "billing", "Days since the last top-up.",
       "last top-up {v:.0f} days ago", label=N_("days since last top-up")),
    # service (contacts with the operator, 90 days)
    _f("complaints_30d", "service", "Complaints in 30 days.", "{v:.0f} complaints in 30 days",
       topic="complaints", label=N_("complaints, 30 days")),
    _f("complaints_90d", "service", "Complaints in 90 days.", "{v:.0f} complaints in 90 days",
       topic="complaints", label=N_("complaints, 90 days")),
    _f("contacts_30d", "service", "Contacts with the operator in 30 days.",
       "{v:.0f} contacts with us in 30 days", label=N_("service contacts, 30 days")),
    _f("unresolved_90d", "service", "Unresolved or escalated contacts in 90 days.",
       "{v:.0f} unresolved issues in 90 days", label=N_("unresolved issues, 90 days")),
    _f("cancellation_enquiries_90d", "service", "Cancellation enquiries in 90 days.",
       "asked about cancelling {v:.0f} times in 90 days",
       label=N_("cancellation enquiries, 90 days")),
    # behaviour (the month before the cut-off; usage_monthly, then behaviour_monthly)
    _f("calls_out", "behaviour", "Outgoing calls.", "{v:.0f} outgoing calls last month",
       label=N_("outgoing calls")),
    _f("minutes_out", "behaviour", "Outgoing minutes.", "{v:.0f} outgoing minutes last month",
       label=N_("outgoing minutes")),
    _f("sms_out", "behaviour", "SMS sent.", label=N_("SMS sent")),
    _f("contacts", "behaviour", "Distinct numbers in touch with.",
       "talked to {v:.0f} people last month", label=N_("people in touch with")),
    _f("active_days", "behaviour", "Days with a call or SMS.",
       "active on {v:.0f} days last month", label=N_("active days")),
    _f("data_mb", "behaviour", "Mobile data, MB.", "{v:.0f} MB of data last month",
       label=N_("mobile data (MB)")),
    _f("night_calls", "behaviour", "Calls 22:00-06:00.", "{v:.0f} night calls last month",
       label=N_("night calls")),
    _f("calls_trend", "behaviour", "Calls of the last month against the two before, minus 1; "
       "ties to contacts who left before the cut-off left out.",
       "calls {v:+.0%} last month against the two before", label=N_("call trend")),
    _f("usage_trend", "behaviour", "Data of the last month against the two before, minus 1.",
       "data use {v:+.0%} last month against the two before", label=N_("data use trend")),
    _f("percent_nocturnal", "behaviour", "Share of interactions at night.",
       label=N_("share at night")),
    _f("entropy_of_contacts_normalized", "behaviour",
       "Entropy of interactions over contacts / ln(contacts).", label=N_("spread over contacts")),
    _f("percent_out_of_network_contacts", "behaviour", "Share of contacts that are off-net.",
       label=N_("off-net contacts share")),
    _f("percent_initiated_calls", "behaviour", "Share of calls the subscriber made.",
       label=N_("share of calls made")),
    _f("interevent_seconds_mean", "behaviour", "Mean time between interactions.",
       label=N_("time between interactions")),
    # graph: graph_features (graph.features), in its column order
    _f("churned_before_cutoff", "graph", "The line left before the cut-off (a row filter).",
       model_input=False, label=N_("left before the cut-off")),
    _f("tenure_days", "graph", "Days since the line started.", model_input=False,
       label=N_("days on the network")),
    _f("degree", "graph", "Contacts.", "{v:.0f} contacts in the call graph", api=True,
       label=N_("contacts in the call graph")),
    _f("in_degree", "graph", "Contacts who reached the subscriber.", api=True,
       label=N_("incoming contacts")),
    _f("out_degree", "graph", "Contacts the subscriber reached.", api=True,
       label=N_("outgoing contacts")),
    _f("strength", "graph", "Tie strength, total.", api=True, label=N_("tie strength")),
    _f("strength_in", "graph", "Tie strength received.", label=N_("tie strength received")),
    _f("strength_out", "graph", "Tie strength initiated.", label=N_("tie strength initiated")),
    _f("reciprocity", "graph", "Two-way contacts' share of directed ties.", api=True,
       label=N_("two-way contacts")),
    _f("clustering", "graph", "Local clustering coefficient.", api=True, label=N_("clustering")),
    _f("pagerank", "graph", "Weighted PageRank: centrality in the call graph.",
       "peripheral in the call graph (PageRank {v:.2g})", predicate=CC.influenceScore,
       api=True, label=N_("centrality (PageRank)")),
    _f("core_number", "graph", "k-core number.", "in a {v:.0f}-core of the call graph",
       api=True, label=N_("k-core")),
    _f("betweenness", "graph", "Approximate betweenness (sampled sources).", api=True,
       label=N_("betweenness")),
    _f("onnet_contact_share", "graph", "Share of contacts on our network.", api=True,
       label=N_("on-net contacts share")),
    _f("offnet_contact_share", "graph", "Share of contacts on other operators.",
       "{v:.0%} of their contacts are on other operators", api=True,
       label=N_("off-net contact share")),
    _f("onnet_strength_share", "graph", "Share of tie strength to on-net contacts.",
       label=N_("on-net tie strength share")),
    _f("circle_size", "graph", "Members of the subscriber's call circle.",
       "in a call circle of {v:.0f}", label=N_("circle size")),
    _f("circle_density", "graph", "The circle's ties over possible pairs.",
       label=N_("circle density")),
    _f("circle_internal_share", "graph", "Share of the circle's tie strength inside it.",
       "{v:.0%} of their calls stay inside their circle", label=N_("calls inside the circle")),
    _f("circle_same_plan_share", "graph", "Share of the circle's others on the same plan.",
       label=N_("circle on the same plan")),
    _f("churned_neighbours", "graph", "Contacts who left before the cut-off.",
       "{v:.0f} contacts have left", predicate=CC.churnedNeighbours, api=True,
       topic="contacts who left", label=N_("contacts who left")),
    _f("churned_neighbour_share", "graph", "Contacts who left, as a share of contacts.",
       "{v:.0%} of their contacts have left", api=True, topic="contacts who left",
       label=N_("share of contacts who left")),
    _f("churned_tie_weight", "graph", "Tie strength to leavers, halving every 90 days.",
       "strong ties to people who left (weight {v:.1f})", topic="contacts who left",
       label=N_("ties to leavers")),
    _f("churned_tie_share", "graph", "churned_tie_weight over strength.",
       "{v:.0%} of their calling went to people who left", api=True, topic="contacts who left",
       label=N_("calling to leavers")),
    _f("days_since_contact_left", "graph",
       "Days since the latest departure among contacts (empty: none left).",
       "a contact left {v:.0f} days ago", topic="contacts who left",
       label=N_("days since a close contact left")),
    _f("churn_activation", "graph", "Energy from recent churners by spreading activation.",
       "close in the call graph to recent churners ({v:.2f})",
       predicate=CC.churnActivation, api=True,
       api_doc="Pull of recent churners, by spreading activation.", topic="contacts who left",
       label=N_("closeness to recent churners")),
    _f("neighbour_mean_arpu", "graph", "Mean ARPU of on-net contacts.",
       "their contacts spend ¥{v:.0f} a month on average", api=True,
       label=N_("contacts' mean spend")),
    _f("neighbour_mean_tenure_days", "graph", "Mean tenure of on-net contacts, days.",
       label=N_("contacts' mean days on the network")),
    _f("neighbour_top_plan", "graph", "Most common plan among contacts.",
       label=N_("contacts' most common plan")),
    _f("neighbour_same_plan_share", "graph", "Share of contacts on the subscriber's plan.",
       label=N_("contacts on the same plan")),
    # export: IBM Telco's own columns, when a model is fitted on the file itself
    _f("Contract", "export", "Contract term.", "{v} contract", label=N_("contract")),
    _f("PaymentMethod", "export", "Payment method.", "pays by {v}", label=N_("payment method")),
    _f("InternetService", "export", "Internet service.", "internet: {v}",
       label=N_("internet service")),
    _f("tenure", "export", "Months with the operator.", "{v:.0f} months with us",
       label=N_("tenure")),
    _f("MonthlyCharges", "export", "Monthly charges.", "monthly charges ¥{v:.0f}",
       label=N_("monthly charges")),
    _f("TotalCharges", "export", "Charges to date.", "¥{v:.0f} billed to date",
       label=N_("total charges")),
    _f("TechSupport", "export", "Tech support subscribed.", "tech support: {v}",
       label=N_("tech support")),
    _f("OnlineSecurity", "export", "Online security subscribed.", "online security: {v}",
       label=N_("online security")),
]}

API_FEATURES = tuple(f for f in FEATURES.values() if f.api)
"""The fields of the API's ``GraphFeatures``, in schema order."""
TOPICS: dict[str, str] = {f.name: f.topic or f.name for f in FEATURES.values()}
"""Feature → the topic its churn reasons are told under (its own name when alone)."""
PREDICATES: dict[str, URIRef] = {
    f.name: f.predicate for f in FEATURES.values() if f.predicate is not None}
"""Feature → ontology property of the subscriber's number (``graph.knowledge``)."""


def feature_label(name: str, locale: str | None = None) -> str:
    """A feature's display name in ``locale`` ("circle size", 交往圈规模); a column the
    catalogue does not declare reads as its name with spaces."""
    feature = FEATURES.get(name)
    english = feature.label if feature is not None and feature.label else name.replace("_", " ")
    return translator(locale).gettext(english)


def group(name: str) -> list[str]:
    """The features of one group, in declaration order."""
    return [f.name for f in FEATURES.values() if f.group == name]


def dump_reasons(reasons: Sequence[dict[str, Any]]) -> str:
    """One subscriber's reasons as ``churn_scores.reasons`` stores them."""
    return json.dumps(list(reasons), ensure_ascii=False, default=str)


def load_reasons(stored: object) -> list[dict[str, Any]]:
    """The reasons of a ``churn_scores.reasons`` value (none for NULL)."""
    return json.loads(stored) if isinstance(stored, str) and stored else []


def reason_texts(stored: object) -> list[str]:
    """The reasons' phrases, strongest push first."""
    return [r["text"] for r in load_reasons(stored) if r.get("text")]


def reason_features(stored: object) -> list[str]:
    """The features behind the reasons, strongest push first."""
    return [r["feature"] for r in load_reasons(stored)]
