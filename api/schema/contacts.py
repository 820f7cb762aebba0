"""Top contacts: the numbers a customer talks to, as a Relay connection."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from api import pii
from api.auth import Principal
from api.context import ctx
from api.schema.relay import Connection, cursor_position
from api.warehouse import Row

if TYPE_CHECKING:
    from api.schema.customer import Customer


@strawberry.type(description="A number a customer's lines exchanged calls or SMS with.")
class Contact:
    on_net: bool | None = strawberry.field(description="Held by one of our subscriptions.")
    operator: str | None = strawberry.field(description="Original carrier by number range.")
    calls_out: int
    calls_in: int
    sms: int
    seconds: int
    night_calls: int
    weight: float = strawberry.field(
        description="Tie strength (calls, SMS and minutes, both ways, all months), "
                    "as the call graph weighs it.")
    last_contact: dt.datetime | None
    number: str = strawberry.field(
        description="The other number, E.164 (PII: in clear for `admin` only).")
    _row: strawberry.Private[Row]

    @classmethod
    def from_row(cls, row: Row, principal: Principal) -> Contact:
        """``principal``: who asks (the number is masked for them once, here, rather than by
        a resolver per contact)."""
        return cls(on_net=row["on_net"], operator=row["operator"],
                   calls_out=int(row["calls_out"]), calls_in=int(row["calls_in"]),
                   sms=int(row["sms"]), seconds=int(row["seconds"]),
                   night_calls=int(row["night_calls"]), weight=float(row["weight"]),
                   last_contact=row["last_contact"],
                   number=pii.shown_msisdn(principal, row["other"]), _row=row)

    @strawberry.field(description="The on-net customer holding the number, if any.")
    async def customer(
        self, info: Info,
    ) -> Annotated[Customer, strawberry.lazy("api.schema.customer")] | None:
        from api.schema.customer import Customer

        return await Customer.load(info, self._row["other_customer_id"])


@strawberry.type(description="A page of contacts, heaviest first.")
class ContactConnection(Connection[Contact]):
    total_count: int

    @classmethod
    async def load(cls, info: Info, customer_id: str, first: int | None,
                   after: str | None) -> ContactConnection:
        context = ctx(info)
        size = context.page_size(first, default=10)
        offset = cursor_position(after)
        window = max(offset + size, 1)
        rows = context.loaders.contacts_from_card(customer_id, window)
        if rows is None:
            rows = await context.loaders.top_contacts.load((customer_id, window))
        return cls.ranked(rows, offset, size,
                          lambda row: Contact.from_row(row, context.principal))
