"""Per-request dataloaders: every per-item fetch is batched into one query per tick.

A :class:`Loaders` is created for each request (never shared: its caches would
outlive the snapshot and the caller's role), so N customers on a page cost a fixed
number of warehouse queries, not N.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from api import store
from api.warehouse import Row, Warehouse

K = TypeVar("K")
V = TypeVar("V")


R = TypeVar("R")


def now_or_later(loader: DataLoader[K, V], key: K, build: Callable[[V], R]) -> R | Awaitable[R]:
    """``build`` of the loaded value: at once if a batch already read it (or it was primed),
    else a coroutine. A resolver that returns this costs the executor no coroutine and no
    task when its data is in — most fields of a customer card or of a prefetched page."""
    future = loader.cache_map.get(key)
    if future is not None and future.done():
        return build(future.result())

    async def later() -> R:
        return build(await loader.load(key))

    return later()


def _one(db: Warehouse, fetch: Callable[[Warehouse, Sequence[Any]], Awaitable[dict[Any, Any]]],
         default: Any = None) -> DataLoader[Any, Any]:
    async def load(keys: list[Any]) -> list[Any]:
        found = await fetch(db, keys)
        return [found.get(key, default() if callable(default) else default) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    """The dataloaders of one request, over one snapshot."""

    def __init__(self, db: Warehouse) -> None:
        self.db = db
        self.customer: DataLoader[str, Row | None] = _one(db, store.customers_by_id)
        self.customer_id_by_msisdn: DataLoader[str, str | None] = _one(
            db, store.customer_ids_by_msisdn)
        self.subscriptions: DataLoader[str, list[Row]] = _one(
            db, store.subscriptions_by_customer, list)
        self.subscription: DataLoader[str, Row | None] = _one(db, store.subscriptions_by_id)
        self.product: DataLoader[str, Row | None] = _one(db, store.products_by_id)
        self.channel_history: DataLoader[str, list[Row]] = _one(
            db, store.channel_history_by_customer, list)
        self.bills_summary: DataLoader[str, Row | None] = _one(
            db, store.bills_summary_by_customer)
        self.top_contacts: DataLoader[tuple[str, int], list[Row]] = DataLoader(
            load_fn=self._load_top_contacts)
        # graph and insight stages
        self.churn: DataLoader[str, list[Row]] = _one(db, store.churn_by_customer, list)
        self.value: DataLoader[str, Row | None] = _one(db, store.value_by_customer)
        self.segment_members: DataLoader[str, list[Row]] = _one(
            db, store.segment_members_by_customer, list)
        self.segment: DataLoader[str, Row | None] = _one(db, store.segments_by_id)
        self.circle_memberships: DataLoader[str, list[Row]] = _one(
            db, store.circle_memberships_by_customer, list)
        self.circle: DataLoader[str, Row | None] = _one(db, store.circles_by_id)
        self.influencers: DataLoader[str, list[Row]] = _one(db, store.influencers, list)
        self.circle_members: DataLoader[tuple[str, int], list[Row]] = DataLoader(
            load_fn=self._load_circle_members)
        self.referrers: DataLoader[str, list[Row]] = _one(db, store.referrers_by_prospect, list)
        self.card: DataLoader[str, Row | None] = _one(db, store.cards_by_customer)
        self.card_contacts: dict[str, tuple[list[Row], bool, int]] = {}
        self.tags: DataLoader[str, list[Row]] = _one(db, store.tags_by_customer, list)
        self.graph_features: DataLoader[str, list[Row]] = _one(
            db, store.graph_features_by_customer, list)

    async def _load_top_contacts(self, keys: list[tuple[str, int]]) -> list[list[Row]]:
        """Keys are (customer id, rows wanted); one query with the largest window."""
        limit = max(window for _, window in keys)
        found = await store.top_contacts_by_customer(
            self.db, sorted({customer_id for customer_id, _ in keys}), limit)
        return [found.get(customer_id, [])[:window] for customer_id, window in keys]

    async def _load_circle_members(self, keys: list[tuple[str, int]]) -> list[list[Row]]:
        limit = max(window for _, window in keys)
        found = await store.circle_members(
            self.db, sorted({circle_id for circle_id, _ in keys}), limit)
        return [found.get(circle_id, [])[:window] for circle_id, window in keys]

    async def load_card(self, customer_id: str) -> None:
        """Read the customer's card and prime the loaders of its parts with it."""
        from api.serving import CARD_CONTACTS

        card = await self.card.load(customer_id)
        if card is None:
            return
        self.customer.prime(customer_id, card)
        self.subscriptions.prime(customer_id, card["subscriptions"])
        self.channel_history.prime(customer_id, card["channel_history"])
        self.bills_summary.prime(customer_id, card["bills"])
        contacts = card["contacts"]
        complete = not contacts or int(contacts[0]["total"]) <= len(contacts)
        self.card_contacts[customer_id] = (contacts, complete, CARD_CONTACTS)

    def contacts_from_card(self, customer_id: str, window: int) -> list[Row] | None:
        """The first ``window`` contacts if the card holds them, else None (load them)."""
        cached = self.card_contacts.get(customer_id)
        if cached is None:
            return None
        contacts, complete, kept = cached
        if window <= kept or complete:
            return contacts[:window]
        return None

    def prime_customers(self, rows: list[Row]) -> None:
        """Rows a list query already read need not be read again by `node`/`customer`."""
        for row in rows:
            self.customer.prime(row["customer_id"], row)
