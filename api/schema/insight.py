"""What the insight stage adds: churn risk with reasons, value, segments.

Each resolves to null (or an empty list) on a snapshot the stage has not scored.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from api import store
from api.context import LocaleArgument, ctx
from api.schema.relay import Connection, Node, cursor_position, to_global_id
from api.warehouse import Row
from insight.churn import reasons_in
from insight.segments import profile_in
from insight.value import tier_name

if TYPE_CHECKING:
    from api.schema.customer import Customer


@strawberry.type(description="A line's churn risk as of the model's cut-off, with reasons.")
class ChurnRisk:
    probability: float = strawberry.field(description="Calibrated probability of leaving.")
    risk_rank: int | None = strawberry.field(description="1 = highest risk of all lines.")
    risk_decile: int | None
    model_id: str | None
    cutoff: dt.date
    subscription_id: str
    _customer_id: strawberry.Private[str]
    _reasons: strawberry.Private[object]

    @classmethod
    def from_row(cls, row: Row) -> ChurnRisk:
        return cls(
            probability=float(row["churn_risk"]), risk_rank=_int(row.get("risk_rank")),
            risk_decile=_int(row.get("risk_decile")),
            model_id=row.get("model_id"), cutoff=row["cutoff"],
            subscription_id=row["subscription_id"], _customer_id=row["customer_id"],
            _reasons=row.get("reasons"))

    @strawberry.field(description="Phrases, strongest push first, in `locale` (else the "
                                  "request's Accept-Language, else the server's default).")
    def reasons(self, info: Info, locale: LocaleArgument = None) -> list[str]:
        return reasons_in(self._reasons, ctx(info).in_locale(locale))

    @strawberry.field(description="The customer holding the line.")
    async def customer(
        self, info: Info,
    ) -> Annotated[Customer, strawberry.lazy("api.schema.customer")] | None:
        from api.schema.customer import Customer

        return await Customer.load(info, self._customer_id)


@strawberry.type(description="A customer's value as of the cut-off (sums over lines).")
class CustomerValue:
    cutoff: dt.date
    lines: int | None
    monthly_revenue: float | None = strawberry.field(description="ARPU: revenue per month.")
    monthly_margin: float | None
    clv: float | None = strawberry.field(description="Customer lifetime value.")
    network_value: float | None = strawberry.field(
        description="Value the customer's circle would lose with them.")
    tenure_months: float | None
    churn_risk: float | None = strawberry.field(description="Highest risk among the lines.")
    _tier: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: Row) -> CustomerValue:
        return cls(cutoff=row["cutoff"], lines=_int(row.get("lines")),
                   monthly_revenue=row.get("monthly_revenue"),
                   monthly_margin=row.get("monthly_margin"), clv=row.get("clv"),
                   network_value=row.get("network_value"),
                   tenure_months=_float(row.get("tenure_months")),
                   _tier=row.get("value_tier"), churn_risk=row.get("churn_risk"))

    @strawberry.field(description="Value tier (客户阶梯) as `locale` names it.")
    def value_tier(self, info: Info, locale: LocaleArgument = None) -> str | None:
        return tier_name(self._tier, ctx(info).in_locale(locale))


@strawberry.type(description="A behavioural segment; ids are stable from run to run.")
class Segment(Node):
    segment_id: str
    cutoff: dt.date
    subscribers: int | None
    share: float | None
    _profile: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: Row) -> Segment:
        return cls(id=strawberry.ID(to_global_id("Segment", row["segment_id"])),
                   segment_id=row["segment_id"], cutoff=row["cutoff"],
                   subscribers=_int(row.get("subscribers")), share=_float(row.get("share")),
                   _profile=row.get("profile"))

    @strawberry.field(description="Readable description of the segment, in `locale`.")
    def profile(self, info: Info, locale: LocaleArgument = None) -> str | None:
        return profile_in(self._profile, ctx(info).in_locale(locale))


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@strawberry.type(description="Lines by descending churn risk.")
class ChurnRiskConnection(Connection[ChurnRisk]):

    @classmethod
    async def load(cls, info: Info, first: int | None, after: str | None,
                   min_risk: float | None, max_risk: float | None) -> ChurnRiskConnection:
        context = ctx(info)
        size = context.page_size(first)
        rows = await store.churn_page(context.db, cursor_position(after), size + 1, min_risk,
                                      max_risk)
        return cls.keyset(rows, size, after, cursor=lambda row: int(row["risk_rank"]),
                          node=ChurnRisk.from_row)
