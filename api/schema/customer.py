"""Customer 360: profile, lines, plans, channel history, bills and top contacts."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Awaitable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from api import pii
from api.auth import Principal
from api.context import ctx
from api.loaders import now_or_later
from api.schema.relay import Node, to_global_id
from api.warehouse import Row

if TYPE_CHECKING:
    from api.schema.circles import CallCircle, GraphFeatures
    from api.schema.contacts import ContactConnection
    from api.schema.insight import ChurnRisk, CustomerValue, Segment
    from api.schema.subscription import Product, Subscription


@strawberry.enum(description="Kind of party holding subscriptions.")
class CustomerType(enum.Enum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"
    GROUP = "group"


@strawberry.type(description="A customer's contacts through one channel: how many, and the last.")
class ChannelContact:
    channel: str
    contacts: int
    last_contact_at: dt.datetime
    last_category: str | None
    last_outcome: str | None

    @classmethod
    def from_row(cls, row: Row) -> ChannelContact:
        return cls(channel=row["channel"], contacts=row["contacts"],
                   last_contact_at=row["last_contact_at"], last_category=row["last_category"],
                   last_outcome=row["last_outcome"])


@strawberry.type(description="Bills over all of a customer's lines.")
class BillsSummary:
    bills: int = strawberry.field(description="Number of bills (all lines, all months).")
    months: int = strawberry.field(description="Months with at least one bill.")
    first_period: dt.date
    last_period: dt.date
    last_month_total: float = strawberry.field(description="Total billed in the last month.")
    average_monthly_total: float
    total_billed: float
    arrears: float = strawberry.field(
        description="Unpaid balance: the latest bill's arrears, summed over lines.")

    @classmethod
    def from_row(cls, row: Row) -> BillsSummary:
        return cls(bills=int(row["bills"]), months=int(row["months"]),
                   first_period=row["first_period"], last_period=row["last_period"],
                   last_month_total=row["last_month_total"],
                   average_monthly_total=row["average_monthly_total"],
                   total_billed=row["total_billed"], arrears=row["arrears"])


@strawberry.type(description="A customer: one party holding one or more lines.")
class Customer(Node):
    # Fields from the graph and insight stages (circle, graphFeatures, churnRisk, value,
    # segment, tags)
    # resolve to null on a snapshot without their tables.
    customer_id: str
    customer_type: CustomerType
    region: str
    join_date: dt.date
    gender: str | None
    birth_date: dt.date | None
    do_not_contact: bool
    pii_masked: bool = strawberry.field(
        description="Whether name, numbers and address are masked for you.")
    name: str | None = strawberry.field(description="Person or organisation name (PII).")
    _row: strawberry.Private[Row]
    _subject: strawberry.Private[bool]

    @classmethod
    def from_row(cls, row: Row, principal: Principal, *, subject: bool = False) -> Customer:
        """``principal``: who asks; ``subject``: looked up directly by them (see ``api.pii``).
        What they may see is decided once, here, not by a resolver per field and customer."""
        reveal = pii.reveal_person(principal, subject=subject)
        return cls(
            id=strawberry.ID(to_global_id("Customer", row["customer_id"])),
            customer_id=row["customer_id"], customer_type=CustomerType(row["customer_type"]),
            region=row["region"], join_date=row["join_date"], gender=row["gender"],
            birth_date=row["birth_date"], do_not_contact=bool(row["do_not_contact"]),
            pii_masked=not reveal, name=row["name"] if reveal else pii.mask_name(row["name"]),
            _row=row, _subject=subject,
        )

    @strawberry.field(description="Identity or registration number (PII; `admin` in clear).")
    def id_number(self, info: Info) -> str | None:
        value = self._row["id_number"]
        principal = ctx(info).principal
        if pii.reveal_identity_number(principal):
            return value
        keep = 0 if self.pii_masked else 4
        return pii.mask_identity_number(value, keep_last=keep)

    @strawberry.field(description="Postal address (PII).")
    def address(self) -> str | None:
        value = self._row["address"]
        return pii.mask_address(value) if self.pii_masked else value

    @strawberry.field(description="All lines, active first.")
    def subscriptions(
        self, info: Info, status: list[str] | None = None,
    ) -> list[Annotated[Subscription, strawberry.lazy("api.schema.subscription")]]:
        from api.schema.subscription import Subscription

        context = ctx(info)
        return now_or_later(  # type: ignore[return-value]  # or an awaitable of it
            context.loaders.subscriptions, self.customer_id,
            lambda rows: [Subscription.from_row(row, context.principal,
                                                owner_subject=self._subject)
                          for row in rows if status is None or row["status"] in status])

    @strawberry.field(description="Distinct products of the lines that are not terminated.")
    async def plans(
        self, info: Info,
    ) -> list[Annotated[Product, strawberry.lazy("api.schema.subscription")]]:
        from api.schema.subscription import Product

        loaders = ctx(info).loaders
        rows = await loaders.subscriptions.load(self.customer_id)
        product_ids = list(dict.fromkeys(
            row["product_id"] for row in rows if row["status"] != "terminated"))
        products = await loaders.product.load_many(product_ids)
        return [Product.from_row(row) for row in products if row is not None]

    @strawberry.field(description="Per channel: number of contacts and the last one.")
    def channel_history(self, info: Info) -> list[ChannelContact]:
        return now_or_later(  # type: ignore[return-value]  # or an awaitable of it
            ctx(info).loaders.channel_history, self.customer_id,
            lambda rows: [ChannelContact.from_row(row) for row in rows])

    @strawberry.field(description="Bills summary and arrears; null without bills.")
    def bills(self, info: Info) -> BillsSummary | None:
        return now_or_later(  # type: ignore[return-value]  # or an awaitable of it
            ctx(info).loaders.bills_summary, self.customer_id,
            lambda row: None if row is None else BillsSummary.from_row(row))

    @strawberry.field(description="Numbers this customer's lines talk to, heaviest first.")
    async def top_contacts(
        self, info: Info, first: int | None = 10, after: str | None = None,
    ) -> Annotated[ContactConnection, strawberry.lazy("api.schema.contacts")]:
        from api.schema.contacts import ContactConnection

        return await ContactConnection.load(info, self.customer_id, first, after)

    @strawberry.field(description="Churn risk of the customer's riskiest line; null "
                                  "until the insight stage has scored the snapshot.")
    async def churn_risk(
        self, info: Info,
    ) -> Annotated[ChurnRisk, strawberry.lazy("api.schema.insight")] | None:
        from api.schema.insight import ChurnRisk

        rows = await ctx(info).loaders.churn.load(self.customer_id)
        return ChurnRisk.from_row(rows[0]) if rows else None

    @strawberry.field(description="ARPU, margin, lifetime value, network value and tier.")
    async def value(
        self, info: Info,
    ) -> Annotated[CustomerValue, strawberry.lazy("api.schema.insight")] | None:
        from api.schema.insight import CustomerValue

        row = await ctx(info).loaders.value.load(self.customer_id)
        return None if row is None else CustomerValue.from_row(row)

    @strawberry.field(description="Behavioural segment of the customer's first scored line.")
    async def segment(
        self, info: Info,
    ) -> Annotated[Segment, strawberry.lazy("api.schema.insight")] | None:
        from api.schema.insight import Segment

        loaders = ctx(info).loaders
        members = await loaders.segment_members.load(self.customer_id)
        if not members:
            return None
        row = await loaders.segment.load(members[0]["segment_id"])
        return None if row is None else Segment.from_row(row)

    @strawberry.field(description="Call circle of the customer's most central number.")
    async def circle(
        self, info: Info,
    ) -> Annotated[CallCircle, strawberry.lazy("api.schema.circles")] | None:
        from api.schema.circles import CallCircle

        loaders = ctx(info).loaders
        memberships = await loaders.circle_memberships.load(self.customer_id)
        if not memberships:
            return None
        row = await loaders.circle.load(memberships[0]["circle_id"])
        return None if row is None else CallCircle.from_row(row)

    @strawberry.field(description="Graph features of the customer's most central number.")
    async def graph_features(
        self, info: Info,
    ) -> Annotated[GraphFeatures, strawberry.lazy("api.schema.circles")] | None:
        from api.schema.circles import GraphFeatures

        rows = await ctx(info).loaders.graph_features.load(self.customer_id)
        if not rows:
            return None
        return GraphFeatures.from_row(max(rows, key=lambda r: r.get("pagerank") or 0.0))

    @strawberry.field(description="Tags of the latest tagged period; `customerTags` "
                                  "gives each with its rule and evidence.")
    async def tags(self, info: Info) -> list[str]:
        rows = await ctx(info).loaders.tags.load(self.customer_id)
        return [row["tag_id"] for row in rows]

    @classmethod
    def of(cls, row: Any, principal: Principal, *, subject: bool = False) -> Customer | None:
        return None if row is None else cls.from_row(row, principal, subject=subject)

    @classmethod
    async def load(cls, info: Info, customer_id: str | None) -> Customer | None:
        """The holder of a number or line, through the request's dataloader (masked)."""
        if customer_id is None:
            return None
        context = ctx(info)
        return cls.of(await context.loaders.customer.load(customer_id), context.principal)


def selected(selections: list[Any]) -> Iterator[SelectedField]:
    """The fields of a selection, those of its fragments included."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:  # fragments
            yield from selected(selection.selections)


def prefetch(info: Info, selections: list[Any], customer_ids: Sequence[str], *,
             card: bool = False) -> list[Awaitable[Any]]:
    """Start the loads a selection of customer fields will need, for all the customers at
    once, so they go in one round of queries (and the fields resolve without waiting).

    ``card``: the customer's card (``api.serving``) is being read too; it holds profile,
    lines, channels, bills and first contacts. A load started here and not used (unknown
    customer) costs a query, never a wrong answer.
    """
    context = ctx(info)
    loaders = context.loaders
    by_field: dict[str, Any] = {
        "subscriptions": loaders.subscriptions, "plans": loaders.subscriptions,
        "channelHistory": loaders.channel_history, "bills": loaders.bills_summary,
        "churnRisk": loaders.churn, "value": loaders.value,
        "segment": loaders.segment_members, "circle": loaders.circle_memberships,
        "tags": loaders.tags, "graphFeatures": loaders.graph_features,
    }
    started: list[Awaitable[Any]] = []
    for field in selected(selections):
        name = field.name
        if card and name in ("subscriptions", "plans", "channelHistory", "bills",
                             "topContacts"):
            continue
        loader = by_field.get(name)
        if loader is not None:
            started.append(loader.load_many(customer_ids))
        elif name == "topContacts" and field.arguments.get("after") is None:
            first = field.arguments.get("first", 10)
            if isinstance(first, int) and 0 <= first <= context.limits.max_page_size:
                started.append(loaders.top_contacts.load_many(
                    [(customer_id, max(first, 1)) for customer_id in customer_ids]))
    return started
