"""Lines (subscriptions and their numbers) and the product catalogue."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from api import pii
from api.auth import Principal
from api.context import ctx
from api.schema.relay import Node, to_global_id
from api.warehouse import Row

if TYPE_CHECKING:
    from api.schema.circles import GraphFeatures
    from api.schema.customer import Customer
    from api.schema.insight import ChurnRisk


@strawberry.type(description="A tariff plan, bundle or value-added service.")
class Product(Node):
    product_id: str
    name: str
    product_type: str
    payment_type: str | None
    monthly_fee: float
    included_minutes: int | None
    included_sms: int | None
    included_data_mb: int | None
    price_per_minute: float | None
    price_per_mb: float | None

    @classmethod
    def from_row(cls, row: Row) -> Product:
        return cls(id=strawberry.ID(to_global_id("Product", row["product_id"])),
                   **{k: row[k] for k in _PRODUCT_FIELDS})


_PRODUCT_FIELDS = ("product_id", "name", "product_type", "payment_type", "monthly_fee",
                   "included_minutes", "included_sms", "included_data_mb",
                   "price_per_minute", "price_per_mb")


@strawberry.type(description="A line: a phone number held by a customer, on a plan.")
class Subscription(Node):
    subscription_id: str
    status: str
    start_date: dt.date
    end_date: dt.date | None
    msisdn: str = strawberry.field(description="The line's number, E.164 (PII).")
    _row: strawberry.Private[Row]
    _owner_subject: strawberry.Private[bool]

    @classmethod
    def from_row(cls, row: Row, principal: Principal, *,
                 owner_subject: bool = False) -> Subscription:
        """``principal``: who asks (the number is masked for them once, here)."""
        return cls(id=strawberry.ID(to_global_id("Subscription", row["subscription_id"])),
                   subscription_id=row["subscription_id"], status=row["status"],
                   start_date=row["start_date"], end_date=row["end_date"],
                   msisdn=pii.shown_msisdn(principal, row["msisdn"], subject=owner_subject),
                   _row=row, _owner_subject=owner_subject)

    @strawberry.field(description="Current tariff plan.")
    async def product(self, info: Info) -> Product | None:
        row = await ctx(info).loaders.product.load(self._row["product_id"])
        return None if row is None else Product.from_row(row)

    @strawberry.field(description="This line's churn risk; null until scored.")
    async def churn_risk(
        self, info: Info,
    ) -> Annotated[ChurnRisk, strawberry.lazy("api.schema.insight")] | None:
        from api.schema.insight import ChurnRisk

        rows = await ctx(info).loaders.churn.load(self._row["customer_id"])
        for row in rows:
            if row["subscription_id"] == self.subscription_id:
                return ChurnRisk.from_row(row)
        return None

    @strawberry.field(description="This number's graph features; null until computed.")
    async def graph_features(
        self, info: Info,
    ) -> Annotated[GraphFeatures, strawberry.lazy("api.schema.circles")] | None:
        from api.schema.circles import GraphFeatures

        rows = await ctx(info).loaders.graph_features.load(self._row["customer_id"])
        for row in rows:
            if row["msisdn"] == self._row["msisdn"]:
                return GraphFeatures.from_row(row)
        return None

    @strawberry.field(description="The holder.")
    async def customer(
        self, info: Info,
    ) -> Annotated[Customer, strawberry.lazy("api.schema.customer")] | None:
        from api.schema.customer import Customer

        row = await ctx(info).loaders.customer.load(self._row["customer_id"])
        return Customer.of(row, ctx(info).principal, subject=self._owner_subject)
