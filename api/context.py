"""What every resolver gets: the caller, the snapshot of this request, its loaders, and the
data directory the server was started on.

One :class:`Context` per request, created with a lease on the snapshot the request
started on (``api.graphql_app``), so its dataloaders never outlive the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry

from api.auth import Principal, Role
from api.errors import PublicError
from api.loaders import Loaders
from api.settings import Limits
from api.snapshots import OpenSnapshot
from api.warehouse import Warehouse
from graph.locales import DEFAULT_LOCALE, LOCALES, normalize
from graph.snapshot import SnapshotStore, SnapshotStoreBusy

if TYPE_CHECKING:
    from strawberry.types import Info

T = TypeVar("T")

LocaleArgument = Annotated[str | None, strawberry.argument(
    description=f"Language of the text: {', '.join(LOCALES)}; default: the request's "
                "Accept-Language, else the server's `locale:`.")]
"""The ``locale`` argument of every field that returns words."""


@dataclass
class Context:
    principal: Principal
    snapshot: OpenSnapshot
    limits: Limits
    db: Warehouse
    loaders: Loaders
    locale: str = DEFAULT_LOCALE
    """The request's language: its Accept-Language, else the server's default."""

    @classmethod
    def create(cls, principal: Principal, snapshot: OpenSnapshot, limits: Limits,
               on_query: Callable[[], None] | None = None,
               locale: str = DEFAULT_LOCALE) -> Context:
        db = Warehouse(snapshot, on_query=on_query)
        return cls(principal=principal, snapshot=snapshot, limits=limits, db=db,
                   loaders=Loaders(db), locale=locale)

    def in_locale(self, locale: str | None) -> str:
        """The language a field answers in: its ``locale`` argument, else the request's;
        a language callcircle does not speak is the caller's error."""
        if locale is None:
            return self.locale
        try:
            return normalize(locale)
        except ValueError as exc:
            raise PublicError(str(exc)) from None

    @property
    def store(self) -> SnapshotStore:
        """The data directory the server follows: mutations publish into it, rules are
        saved in it (the snapshot holder's store, handed to every snapshot it opens)."""
        return self.snapshot.store

    def page_size(self, first: int | None, default: int = 20) -> int:
        """``first`` checked against the configured maximum page size."""
        size = default if first is None else first
        maximum = self.limits.max_page_size
        if size < 0 or size > maximum:
            raise PublicError(f"`first` must be between 0 and {maximum}, got {size}")
        return size

    def require(self, role: Role, what: str) -> None:
        """Refuse callers below ``role`` with a message naming what needs it."""
        if not self.principal.role.at_least(role):
            roles = "admin" if role is Role.ADMIN else "analyst or admin"
            raise PublicError(f"{what} needs the {roles} role")

    async def on_store(self, work: Callable[[SnapshotStore], T]) -> T:
        """Run ``work(store)`` off the loop: a call that publishes a snapshot or saves rules.
        Another writer busy, or input the stage refuses (``ValueError``, a ``RuleError``
        among them), is the caller's public error."""
        try:
            return await asyncio.to_thread(work, self.store)
        except (SnapshotStoreBusy, ValueError) as exc:
            raise PublicError(str(exc)) from None


def ctx(info: Info) -> Context:
    return info.context
