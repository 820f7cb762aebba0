"""The root query type: lookups by id or number, lists, node, snapshot."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from api import store
from api.context import ctx
from api.errors import PublicError
from api.schema.circles import CallCircle, CallCircleConnection, CircleOrderField
from api.schema.customer import Customer, prefetch
from api.schema.customers import CustomerConnection, CustomerFilter, CustomerOrder
from api.schema.insight import ChurnRiskConnection, Segment
from api.schema.prospects import ProspectConnection
from api.schema.relay import Node, from_global_id
from api.schema.snapshot import SnapshotInfo
from api.schema.subscription import Product, Subscription


async def _resolve_node(info: Info, global_id: str) -> Node | None:
    type_name, key = from_global_id(global_id)
    loaders = ctx(info).loaders
    if type_name == "Customer":
        return Customer.of(await loaders.customer.load(key), ctx(info).principal, subject=True)
    if type_name == "Subscription":
        row = await loaders.subscription.load(key)
        return (None if row is None
                else Subscription.from_row(row, ctx(info).principal, owner_subject=True))
    if type_name == "Product":
        row = await loaders.product.load(key)
        return None if row is None else Product.from_row(row)
    if type_name == "Segment":
        row = await loaders.segment.load(key)
        return None if row is None else Segment.from_row(row)
    if type_name == "CallCircle":
        row = await loaders.circle.load(key)
        return None if row is None else CallCircle.from_row(row)
    raise PublicError(f"unknown node type {type_name!r}")


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id (Relay).")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await _resolve_node(info, id)

    @strawberry.field(description="One customer, by exactly one of: global id, "
                                  "operator's customer id, or a line's number (E.164).")
    async def customer(self, info: Info, id: strawberry.ID | None = None,
                       customer_id: str | None = None,
                       msisdn: str | None = None) -> Customer | None:
        given = [value for value in (id, customer_id, msisdn) if value is not None]
        if len(given) != 1:
            raise PublicError("give exactly one of `id`, `customerId`, `msisdn`")
        loaders = ctx(info).loaders
        if id is not None:
            type_name, customer_id = from_global_id(id)
            if type_name != "Customer":
                raise PublicError("`id` is not a customer's global id")
        elif msisdn is not None:
            customer_id = await loaders.customer_id_by_msisdn.load(msisdn.strip())
            if customer_id is None:
                return None
        assert customer_id is not None
        prefetch(info, info.selected_fields[0].selections, [customer_id],
                 card=ctx(info).db.has("customer_card"))
        await loaders.load_card(customer_id)
        return Customer.of(await loaders.customer.load(customer_id), ctx(info).principal,
                           subject=True)

    @strawberry.field(description="Customers, filtered and ordered, a page at a time.")
    async def customers(self, info: Info, filter: CustomerFilter | None = None,
                        order_by: CustomerOrder | None = None, first: int | None = 20,
                        after: str | None = None) -> CustomerConnection:
        return await CustomerConnection.load(info, filter, order_by, first, after)

    @strawberry.field(description="Lines by descending churn risk (empty until scored).")
    async def churn_risks(self, info: Info, first: int | None = 20, after: str | None = None,
                          min_risk: float | None = None,
                          max_risk: float | None = None) -> ChurnRiskConnection:
        return await ChurnRiskConnection.load(info, first, after, min_risk, max_risk)

    @strawberry.field(description="Behavioural segments, largest first.")
    async def segments(self, info: Info) -> list[Segment]:
        return [Segment.from_row(row) for row in await store.all_segments(ctx(info).db)]

    @strawberry.field(description="One call circle by its id (as in `circleId`).")
    async def circle(self, info: Info, circle_id: str) -> CallCircle | None:
        row = await ctx(info).loaders.circle.load(circle_id)
        return None if row is None else CallCircle.from_row(row)

    @strawberry.field(description="Call circles by a descending measure.")
    async def circles(self, info: Info, order_by: CircleOrderField = CircleOrderField.SIZE,
                      min_size: int | None = None, first: int | None = 20,
                      after: str | None = None) -> CallCircleConnection:
        return await CallCircleConnection.load(info, order_by, min_size, first, after)

    @strawberry.field(description="Off-net numbers worth acquiring, best first.")
    async def prospects(self, info: Info, first: int | None = 20, after: str | None = None,
                        min_customers: int | None = None) -> ProspectConnection:
        return await ProspectConnection.load(info, first, after, min_customers)

    @strawberry.field(description="The snapshot answering this request.")
    def snapshot(self, info: Info) -> SnapshotInfo:
        return SnapshotInfo.current(info)
