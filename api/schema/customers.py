"""Lists of customers: filters, order and keyset-paged connections."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import strawberry
from strawberry.types import Info

from api import store
from api.context import ctx
from api.errors import PublicError
from api.schema.customer import Customer, CustomerType, prefetch, selected
from api.schema.relay import Connection, decode_cursor


@strawberry.input(description="All given conditions must hold; a list matches any of its values.")
class CustomerFilter:
    plan: list[str] | None = strawberry.field(
        default=None, description="Product ids of a line that is not terminated.")
    region: list[str] | None = None
    customer_type: list[CustomerType] | None = None
    segment: list[str] | None = strawberry.field(default=None, description="Segment ids.")
    tier: list[str] | None = strawberry.field(default=None, description="Value tiers.")
    circle: list[str] | None = strawberry.field(
        default=None, description="Call circle ids of one of the customer's numbers.")
    min_risk: float | None = strawberry.field(
        default=None, description="Churn risk of the riskiest line at least this.")
    max_risk: float | None = None
    tag: list[str] | None = strawberry.field(
        default=None, description="Tag ids of the latest tagged period.")

    def to_query(self, order: CustomerOrder | None) -> store.CustomerQuery:
        order = order or CustomerOrder()
        return store.CustomerQuery(
            plans=tuple(self.plan) if self.plan is not None else None,
            regions=tuple(self.region) if self.region is not None else None,
            customer_types=(tuple(t.value for t in self.customer_type)
                            if self.customer_type is not None else None),
            segments=tuple(self.segment) if self.segment is not None else None,
            tiers=tuple(self.tier) if self.tier is not None else None,
            circles=tuple(self.circle) if self.circle is not None else None,
            tags=tuple(self.tag) if self.tag is not None else None,
            min_risk=self.min_risk, max_risk=self.max_risk,
            sort=store.CustomerSort[order.field.name],
            descending=order.direction is Direction.DESC,
        )


@strawberry.enum
class CustomerOrderField(enum.Enum):
    CUSTOMER_ID = "customer_id"
    JOIN_DATE = "join_date"
    REGION = "region"


@strawberry.enum
class Direction(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input
class CustomerOrder:
    field: CustomerOrderField = CustomerOrderField.CUSTOMER_ID
    direction: Direction = Direction.ASC


@strawberry.type(description="A page of customers.")
class CustomerConnection(Connection[Customer]):
    _query: strawberry.Private[store.CustomerQuery]

    @strawberry.field(description="Customers matching the filter (one more query).")
    async def total_count(self, info: Info) -> int:
        return await store.count_customers(ctx(info).db, self._query)

    @classmethod
    async def load(cls, info: Info, filter: CustomerFilter | None, order: CustomerOrder | None,
                   first: int | None, after: str | None) -> CustomerConnection:
        context = ctx(info)
        size = context.page_size(first)
        query = (filter or CustomerFilter()).to_query(order)
        position = None
        if after is not None:
            decoded = decode_cursor(after)
            if not (isinstance(decoded, list) and len(decoded) == 2
                    and all(isinstance(part, str) for part in decoded)):
                raise PublicError("malformed cursor")
            position = (decoded[0], decoded[1])
        rows = await store.customer_page(context.db, query, position, size + 1)
        page = rows[:size]
        context.loaders.prime_customers(page)
        started = prefetch(info, _node_selections(info), [row["customer_id"] for row in page])
        if started:  # the page's lines, bills...: one round of queries, before the fields
            await asyncio.wait([asyncio.ensure_future(loading) for loading in started])
        column = query.sort.column
        return cls.keyset(rows, size, after, _query=query,
                          cursor=lambda row: [str(row[column]), row["customer_id"]],
                          node=lambda row: Customer.from_row(row, context.principal))


def _node_selections(info: Info) -> list[Any]:
    """The customer fields asked for under ``edges { node { ... } }``."""
    return [selection for edges in selected(info.selected_fields[0].selections)
            if edges.name == "edges"
            for node in selected(edges.selections) if node.name == "node"
            for selection in node.selections]
