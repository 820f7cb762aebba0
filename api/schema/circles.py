"""Call circles: the communities of the call graph, their members and influencers."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from api import pii, store
from api.context import ctx
from api.errors import PublicError
from api.schema.relay import (
    Connection,
    Node,
    cursor_position,
    decode_cursor,
    to_global_id,
)
from api.warehouse import Row
from graph.catalogue import API_FEATURES

if TYPE_CHECKING:
    from api.schema.customer import Customer


def _shown_number(root: Any, info: Info) -> str:
    return pii.shown_msisdn(ctx(info).principal, root._row["msisdn"])


async def _holder(
    root: Any, info: Info,
) -> Annotated[Customer, strawberry.lazy("api.schema.customer")] | None:
    from api.schema.customer import Customer

    return await Customer.load(info, root._row.get("customer_id"))


def member_fields() -> tuple[Any, Any]:
    """The ``number`` (masked per role) and ``customer`` fields of a member's ``_row``, for
    every type that shows one (circle members here, drawn nodes in ``circle_graph``)."""
    return (strawberry.field(resolver=_shown_number,
                             description="The number, E.164 (PII: in clear for `admin` only)."),
            strawberry.field(resolver=_holder,
                             description="The on-net customer holding the number, if any."))


@strawberry.type(description="A number in a call circle.")
class CircleMember:
    on_net: bool | None
    pagerank: float | None = strawberry.field(description="Centrality in the call graph.")
    is_influencer: bool
    _row: strawberry.Private[Row]
    number, customer = member_fields()

    @classmethod
    def from_row(cls, row: Row) -> CircleMember:
        return cls(on_net=row["on_net"], pagerank=row["pagerank"],
                   is_influencer=bool(row["is_influencer"]), _row=row)


@strawberry.type(description="A page of circle members, most central first.")
class CircleMemberConnection(Connection[CircleMember]):
    total_count: int


@strawberry.type(description="A call circle (community of the call graph) as of the cut-off.")
class CallCircle(Node):
    circle_id: str
    cutoff: dt.date
    size: int
    on_net_members: int | None
    off_net_share: float | None
    density: float | None
    internal_share: float | None = strawberry.field(
        description="Share of the members' tie strength that stays inside the circle.")
    churned_members: int | None
    churn_rate: float | None
    total_value: float | None
    mean_value: float | None
    dominant_plan: str | None
    dominant_plan_share: float | None

    @classmethod
    def from_row(cls, row: Row) -> CallCircle:
        def opt(name: str) -> object:
            return row.get(name)

        return cls(
            id=strawberry.ID(to_global_id("CallCircle", row["circle_id"])),
            circle_id=row["circle_id"], cutoff=row["cutoff"], size=int(row["size"]),
            on_net_members=opt("on_net_members"), off_net_share=opt("off_net_share"),
            density=opt("density"), internal_share=opt("internal_share"),
            churned_members=opt("churned_members"), churn_rate=opt("churn_rate"),
            total_value=opt("total_value"), mean_value=opt("mean_value"),
            dominant_plan=opt("dominant_plan"), dominant_plan_share=opt("dominant_plan_share"),
        )  # type: ignore[arg-type]

    @strawberry.field(description="The most central subscribers still on the network.")
    async def influencers(self, info: Info) -> list[CircleMember]:
        rows = await ctx(info).loaders.influencers.load(self.circle_id)
        return [CircleMember.from_row(row) for row in rows]

    @strawberry.field(description="Members by descending PageRank.")
    async def members(self, info: Info, first: int | None = 20,
                      after: str | None = None) -> CircleMemberConnection:
        context = ctx(info)
        size = context.page_size(first)
        offset = cursor_position(after)
        rows = await context.loaders.circle_members.load(
            (self.circle_id, max(offset + size, 1)))
        return CircleMemberConnection.ranked(rows, offset, size, CircleMember.from_row)


@strawberry.enum
class CircleOrderField(enum.Enum):
    SIZE = "size"
    CHURN_RATE = "churn_rate"
    TOTAL_VALUE = "total_value"
    DENSITY = "density"


@strawberry.type(description="A page of call circles, largest measure first.")
class CallCircleConnection(Connection[CallCircle]):

    @classmethod
    async def load(cls, info: Info, order_by: CircleOrderField, min_size: int | None,
                   first: int | None, after: str | None) -> CallCircleConnection:
        context = ctx(info)
        size = context.page_size(first)
        sort = store.CircleSort[order_by.name]
        position = None
        if after is not None:
            decoded = decode_cursor(after)
            if not (isinstance(decoded, list) and len(decoded) == 2
                    and isinstance(decoded[0], int | float) and isinstance(decoded[1], str)):
                raise PublicError("malformed cursor")
            position = (float(decoded[0]), decoded[1])
        rows = await store.circle_page(context.db, sort, position, size + 1, min_size)
        page = rows[:size]
        for row in page:
            context.loaders.circle.prime(row["circle_id"], row)
        return cls.keyset(rows, size, after, node=CallCircle.from_row,
                          cursor=lambda row: [float(row[sort.value] or 0), row["circle_id"]])


def _graph_features_from_row(cls: type, row: Row) -> GraphFeatures:
    values = {f.name: (None if row.get(f.name) is None else float(row[f.name]))
              for f in API_FEATURES}
    circle = row.get("circle_id")
    return cls(cutoff=row["cutoff"], circle_id=None if circle is None else str(circle),
               **values)


# One field per feature the catalogue shows in the API (graph.catalogue.API_FEATURES).
GraphFeatures = strawberry.type(type("GraphFeatures", (), {
    "__module__": __name__,
    "__annotations__": {"cutoff": dt.date, "circle_id": str | None,
                        **{f.name: float | None for f in API_FEATURES}},
    **{f.name: strawberry.field(description=f.api_doc) for f in API_FEATURES if f.api_doc},
    "from_row": classmethod(_graph_features_from_row),
}), description="A number's place in the call graph as of the cut-off "
                "(graph.features; see docs/graph-features.md).")
