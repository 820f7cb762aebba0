"""The source contract: one entity per file, column by column.

This module is the single definition of what an operator's export must hold. The
synthetic generator writes it, validation checks rows against it, the warehouse
stages it under the same names, and ``docs/source-contract.md`` documents it.
A column-mapping file (``ingest/mappings/*.yaml``) translates other layouts into
these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal[
    "id", "text", "enum", "date", "timestamp", "int", "decimal", "bool", "phone", "month", "list"
]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    description: str
    required: bool = True
    values: tuple[str, ...] = ()
    """Allowed values of an ``enum`` column (and of each item of a ``list`` column)."""
    minimum: float | None = None
    references: str | None = None
    """``entity.column`` that every non-empty value must match."""
    pii: bool = False


@dataclass(frozen=True)
class Entity:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    monthly: bool = False
    """Delivered as one file per month (``cdrs-2026-01.csv``) and ingested incrementally."""
    sql_checks: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """Row rules across columns: (reason, SQL boolean that must hold)."""

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


CUSTOMER_TYPES = ("individual", "enterprise", "group")
PRODUCT_TYPES = ("plan", "bundle", "vas")
PAYMENT_TYPES = ("prepaid", "postpaid")
SUBSCRIPTION_STATUSES = ("active", "suspended", "terminated")
EVENT_TYPES = ("voice", "sms")
CHANNELS = ("store", "call_centre", "web", "app", "sms", "account_manager")
INTERACTION_CATEGORIES = (
    "enquiry", "complaint", "purchase", "billing", "technical", "plan_change", "cancellation"
)
INTERACTION_OUTCOMES = ("resolved", "unresolved", "escalated")
CAMPAIGN_OBJECTIVES = ("retention", "upsell", "cross_sell", "acquisition", "winback")
CONTACT_GROUPS = ("treatment", "control")
RESPONSES = ("accepted", "declined", "clicked")
CHURN_TYPES = ("port_out", "termination", "non_payment")
PAYMENT_METHODS = ("cash", "card", "bank_transfer", "wechat", "alipay", "voucher", "direct_debit")

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "customers",
            "The customer master: one row per party that holds subscriptions.",
            (
                Column("customer_id", "id", "Operator's customer identifier."),
                Column("customer_type", "enum", "Kind of party.", values=CUSTOMER_TYPES),
                Column("name", "text", "Person or organisation name.", pii=True),
                Column("gender", "enum", "M or F for individuals.", required=False,
                       values=("M", "F")),
                Column("birth_date", "date", "Date of birth (individuals).", required=False),
                Column("id_number", "text", "National identity or business registration number.",
                       required=False, pii=True),
                Column("address", "text", "Postal address.", required=False, pii=True),
                Column("region", "text", "Sales region (city or district)."),
                Column("join_date", "date", "Date the customer first joined the operator."),
                Column("do_not_contact", "bool", "Customer refused marketing contact.",
                       required=False),
            ),
            key=("customer_id",),
        ),
        Entity(
            "products",
            "The product catalogue: tariff plans, bundles and value-added services.",
            (
                Column("product_id", "id", "Product code."),
                Column("name", "text", "Commercial name."),
                Column("product_type", "enum", "Plan, bundle or value-added service.",
                       values=PRODUCT_TYPES),
                Column("payment_type", "enum", "Prepaid or postpaid (plans and bundles).",
                       required=False, values=PAYMENT_TYPES),
                Column("monthly_fee", "decimal", "Recurring monthly charge.", minimum=0),
                Column("included_minutes", "int", "Voice minutes included per month.",
                       required=False, minimum=0),
                Column("included_sms", "int", "SMS included per month.", required=False,
                       minimum=0),
                Column("included_data_mb", "int", "Data included per month, in MB.",
                       required=False, minimum=0),
                Column("price_per_minute", "decimal", "Out-of-bundle voice price.",
                       required=False, minimum=0),
                Column("price_per_mb", "decimal", "Out-of-bundle data price.", required=False,
                       minimum=0),
            ),
            key=("product_id",),
        ),
        Entity(
            "subscriptions",
            "Phone numbers held by customers, with their plan and lifecycle.",
            (
                Column("subscription_id", "id", "Subscription (line) identifier."),
                Column("customer_id", "id", "Holder.", references="customers.customer_id"),
                Column("msisdn", "phone", "The subscription's phone number.", pii=True),
                Column("product_id", "id", "Current tariff plan.",
                       references="products.product_id"),
                Column("status", "enum", "Line status at export time.",
                       values=SUBSCRIPTION_STATUSES),
                Column("start_date", "date", "Activation date."),
                Column("end_date", "date", "Termination date, empty while active.",
                       required=False),
            ),
            key=("subscription_id",),
            sql_checks=(("end_date before start_date",
                         "end_date IS NULL OR end_date >= start_date"),),
        ),
        Entity(
            "cdrs",
            "Call detail records: one row per voice call or SMS with an on-net party.",
            (
                Column("record_id", "id", "Unique record identifier."),
                Column("caller", "phone", "Originating number (A party).", pii=True),
                Column("callee", "phone", "Terminating number (B party).", pii=True),
                Column("start_time", "timestamp", "Start of the call, local time."),
                Column("duration_s", "int", "Call duration in seconds (0 for SMS).", minimum=0),
                Column("event_type", "enum", "Voice call or SMS.", values=EVENT_TYPES),
                Column("roaming", "bool", "A party was roaming.", required=False),
            ),
            key=("record_id",),
            monthly=True,
        ),
        Entity(
            "data_usage",
            "Mobile data sessions aggregated per number and day.",
            (
                Column("msisdn", "phone", "Number.", pii=True,
                       references="subscriptions.msisdn"),
                Column("usage_date", "date", "Day of use."),
                Column("megabytes", "decimal", "Volume up and down, in MB.", minimum=0),
                Column("roaming", "bool", "Used while roaming.", required=False),
            ),
            key=("msisdn", "usage_date", "roaming"),
            monthly=True,
        ),
        Entity(
            "bills",
            "Monthly bills (postpaid) and monthly charge statements (prepaid).",
            (
                Column("bill_id", "id", "Bill identifier."),
                Column("subscription_id", "id", "Billed line.",
                       references="subscriptions.subscription_id"),
                Column("period", "month", "Billing month, YYYY-MM."),
                Column("issue_date", "date", "Date the bill was issued."),
                Column("due_date", "date", "Payment due date (postpaid).", required=False),
                Column("recurring_charge", "decimal", "Plan fee.", minimum=0),
                Column("voice_charge", "decimal", "Out-of-bundle voice.", minimum=0),
                Column("sms_charge", "decimal", "Out-of-bundle SMS.", minimum=0),
                Column("data_charge", "decimal", "Out-of-bundle data.", minimum=0),
                Column("vas_charge", "decimal", "Value-added services.", minimum=0),
                Column("roaming_charge", "decimal", "Roaming.", minimum=0),
                Column("total_amount", "decimal", "Total of this month's charges.", minimum=0),
                Column("arrears", "decimal", "Unpaid balance carried from earlier bills.",
                       required=False, minimum=0),
            ),
            key=("bill_id",),
            monthly=True,
            sql_checks=(("due_date before issue_date",
                         "due_date IS NULL OR due_date >= issue_date"),),
        ),
        Entity(
            "payments",
            "Bill payments (postpaid) and top-ups (prepaid, no bill).",
            (
                Column("payment_id", "id", "Payment identifier."),
                Column("subscription_id", "id", "Line paid for.",
                       references="subscriptions.subscription_id"),
                Column("bill_id", "id", "Bill settled; empty for a prepaid top-up.",
                       required=False, references="bills.bill_id"),
                Column("paid_at", "timestamp", "Time of payment."),
                Column("amount", "decimal", "Amount paid.", minimum=0),
                Column("method", "enum", "Payment method.", values=PAYMENT_METHODS),
            ),
            key=("payment_id",),
            monthly=True,
        ),
        Entity(
            "interactions",
            "Contacts between customer and operator across channels.",
            (
                Column("interaction_id", "id", "Interaction identifier."),
                Column("customer_id", "id", "Customer.", references="customers.customer_id"),
                Column("msisdn", "phone", "Number concerned, if any.", required=False,
                       pii=True),
                Column("channel", "enum", "Where it happened.", values=CHANNELS),
                Column("occurred_at", "timestamp", "When."),
                Column("category", "enum", "What it was about.", values=INTERACTION_CATEGORIES),
                Column("outcome", "enum", "How it ended.", required=False,
                       values=INTERACTION_OUTCOMES),
            ),
            key=("interaction_id",),
            monthly=True,
        ),
        Entity(
            "campaigns",
            "Marketing campaigns.",
            (
                Column("campaign_id", "id", "Campaign identifier."),
                Column("name", "text", "Campaign name."),
                Column("objective", "enum", "Purpose.", values=CAMPAIGN_OBJECTIVES),
                Column("offer", "text", "What was offered."),
                Column("channels", "list", "Channels used, separated by ';'.", values=CHANNELS),
                Column("start_date", "date", "First day."),
                Column("end_date", "date", "Last day."),
                Column("budget", "decimal", "Budget.", required=False, minimum=0),
                Column("cost_per_contact", "decimal", "Cost of one contact.", minimum=0),
                Column("control_share", "decimal", "Share of the target held out as control.",
                       minimum=0),
            ),
            key=("campaign_id",),
            sql_checks=(("end_date before start_date", "end_date >= start_date"),
                        ("control_share above 1", "control_share <= 1")),
        ),
        Entity(
            "campaign_contacts",
            "Target list members: contacted (treatment) or held out (control).",
            (
                Column("contact_id", "id", "Contact identifier."),
                Column("campaign_id", "id", "Campaign.", references="campaigns.campaign_id"),
                Column("customer_id", "id", "Customer.", references="customers.customer_id"),
                Column("msisdn", "phone", "Number contacted.", required=False, pii=True),
                Column("channel", "enum", "Channel used (empty for control).", required=False,
                       values=CHANNELS),
                Column("contacted_at", "timestamp", "When (empty for control).",
                       required=False),
                Column("contact_group", "enum", "Treatment or control.", values=CONTACT_GROUPS),
            ),
            key=("contact_id",),
        ),
        Entity(
            "campaign_responses",
            "Responses to campaign contacts.",
            (
                Column("response_id", "id", "Response identifier."),
                Column("contact_id", "id", "Contact answered.",
                       references="campaign_contacts.contact_id"),
                Column("responded_at", "timestamp", "When."),
                Column("response", "enum", "What the customer did.", values=RESPONSES),
                Column("revenue", "decimal", "Revenue attributed to the response.",
                       required=False, minimum=0),
            ),
            key=("response_id",),
        ),
        Entity(
            "churn_events",
            "Port-outs and terminations.",
            (
                Column("event_id", "id", "Event identifier."),
                Column("subscription_id", "id", "Line that left.",
                       references="subscriptions.subscription_id"),
                Column("churn_date", "date", "Date the line left."),
                Column("churn_type", "enum", "Port-out, voluntary termination or for debt.",
                       values=CHURN_TYPES),
                Column("recipient_operator", "text", "Operator the number ported to.",
                       required=False),
            ),
            key=("event_id",),
            monthly=True,
        ),
    )
}

ENTITY_ORDER: tuple[str, ...] = tuple(ENTITIES)
"""Load order: every entity comes after the ones it references."""

GROUND_TRUTH_DIR = "ground-truth"
"""Subfolder of a synthetic source that holds the answers. Ingest never reads it."""


def contract_markdown() -> str:
    """The contract as the Markdown table kept in ``docs/source-contract.md``."""
    lines = [
        "# Source contract",
        "",
        "<!-- generated by `python -m ingest.contract > docs/source-contract.md`; do not edit -->",
        "",
        "A source directory holds one file per entity, named after it: `customers.csv`,",
        "`products.parquet`, … Entities marked *monthly* may instead come as one file per",
        "month (`cdrs-2026-01.csv`); a new month's file is ingested incrementally. CSV files",
        "are UTF-8 (with or without BOM) or GBK, detected or set by `--encoding`; Parquet is",
        "read as is. Other layouts are read through a column mapping (`--mapping FILE.yaml`,",
        "see `ingest/mappings/`). Phone numbers are normalised to E.164; numbers that are",
        "not a subscription's `msisdn` are off-net. Empty cells are missing values.",
        f"The `{GROUND_TRUTH_DIR}/` folder of a synthetic source is never read.",
        "",
    ]
    for entity in ENTITIES.values():
        lines += [
            f"## `{entity.name}`" + (" (monthly)" if entity.monthly else ""),
            "",
            entity.description + f" Key: {', '.join(entity.key)}.",
            "",
            "| column | type | required | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for column in entity.columns:
            kind = column.kind
            if column.values:
                kind += ": " + ", ".join(column.values)
            if column.minimum is not None:
                kind += f", ≥ {column.minimum:g}"
            meaning = column.description
            if column.references:
                meaning += f" → `{column.references}`"
            if column.pii:
                meaning += " (PII)"
            lines.append(
                f"| `{column.name}` | {kind} | {'yes' if column.required else 'no'} | {meaning} |"
            )
        for reason, rule in entity.sql_checks:
            lines.append(f"\nRow rule: `{rule}` (else quarantined as *{reason}*).")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(contract_markdown(), end="")
