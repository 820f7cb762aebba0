"""Measures: the whitelist of per-customer SQL a business feature may test.

The only SQL of the tag rules is written here, once. A rule picks a measure by name and
supplies thresholds, windows and lists, which the compiler binds as query parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graph.warehouse import latest_cutoff_sql

NUMBER, CATEGORY, BOOLEAN = "number", "category", "boolean"

_SUB = "s.customer_id"
SOURCES: dict[str, dict[str, str]] = {
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
              "where": f"v.cutoff = {latest_cutoff_sql('customer_value', at_most='$end')}"},
    "segments": {"from": "segment_members m", "key": "m.customer_id",
                 "table": "segment_members",
                 "where": f"m.cutoff = {latest_cutoff_sql('segment_members', at_most='$end')}"},
    "network": {"from": "(SELECT *, avg(churned_before_cutoff::INT) OVER (PARTITION BY "
                        "circle_id) AS circle_churned_share FROM graph_features WHERE "
                        f"cutoff = {latest_cutoff_sql('graph_features', at_most='$end')}) g",
                "key": "g.customer_id", "table": "graph_features"},
    "circles": {"from": "circle_members cm JOIN numbers n ON n.msisdn = cm.msisdn",
                "key": "n.customer_id", "table": "circle_members",
                "where": f"cm.cutoff = {latest_cutoff_sql('circle_members', at_most='$end')}"},
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
        return "date" in SOURCES[self.source]


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

NUMERIC_OPS = {">=", ">", "<=", "<", "==", "!=", "between"}
OPERATORS: dict[str, set[str]] = {
    NUMBER: NUMERIC_OPS, CATEGORY: {"==", "!=", "in", "not in"}, BOOLEAN: {"==", "!="}}
"""The operators a feature over a measure of each kind may use."""
