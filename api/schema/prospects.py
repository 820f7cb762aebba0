"""Acquisition prospects: off-net numbers inside our customers' circles, with referrers."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from api import pii, store
from api.context import ctx
from api.schema.relay import Connection, cursor_position
from api.warehouse import Row

if TYPE_CHECKING:
    from api.schema.customer import Customer


@strawberry.type(description="A subscriber with a strong tie to a prospect, who could refer them.")
class Referrer:
    weight: float | None
    calls: int | None
    reciprocal: bool | None
    _row: strawberry.Private[Row]

    @strawberry.field(description="The subscriber's number (PII: in clear for `admin` only).")
    def number(self, info: Info) -> str:
        return pii.shown_msisdn(ctx(info).principal, self._row["referrer_msisdn"])

    @strawberry.field
    async def customer(
        self, info: Info,
    ) -> Annotated[Customer, strawberry.lazy("api.schema.customer")] | None:
        from api.schema.customer import Customer

        return await Customer.load(info, self._row["customer_id"])


@strawberry.type(description="An off-net number many of our customers talk to.")
class Prospect:
    cutoff: dt.date
    operator: str | None
    distinct_customers: int = strawberry.field(description="Our customers in touch with it.")
    subscribers: int | None
    calls: int | None
    minutes: float | None
    sms: int | None
    strength: float | None
    reciprocity: float | None
    score: float
    _row: strawberry.Private[Row]

    @classmethod
    def from_row(cls, row: Row) -> Prospect:
        return cls(cutoff=row["cutoff"], operator=row.get("operator"),
                   distinct_customers=int(row["distinct_customers"]),
                   subscribers=row.get("subscribers"), calls=row.get("calls"),
                   minutes=row.get("minutes"), sms=row.get("sms"),
                   strength=row.get("strength"), reciprocity=row.get("reciprocity"),
                   score=float(row["score"]), _row=row)

    @strawberry.field(description="The off-net number (PII: in clear for `admin` only).")
    def number(self, info: Info) -> str:
        return pii.shown_msisdn(ctx(info).principal, self._row["msisdn"])

    @strawberry.field(description="Strongest ties first.")
    async def referrers(self, info: Info) -> list[Referrer]:
        rows = await ctx(info).loaders.referrers.load(self._row["msisdn"])
        return [Referrer(weight=r.get("weight"), calls=r.get("calls"),
                         reciprocal=r.get("reciprocal"), _row=r) for r in rows]


@strawberry.type(description="Prospects by descending score.")
class ProspectConnection(Connection[Prospect]):

    @classmethod
    async def load(cls, info: Info, first: int | None, after: str | None,
                   min_customers: int | None) -> ProspectConnection:
        context = ctx(info)
        size = context.page_size(first)
        rows = await store.prospect_page(context.db, cursor_position(after), size + 1,
                                         min_customers)
        return cls.keyset(rows, size, after, cursor=lambda row: int(row["rank"]),
                          node=Prospect.from_row)
