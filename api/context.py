"""What every resolver gets: the caller, the snapshot of this request, its loaders.

One :class:`Context` per request, created with a lease on the snapshot the request
started on (``api.graphql_app``), so its dataloaders never outlive the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.auth import Principal
from api.errors import PublicError
from api.loaders import Loaders
from api.settings import Limits
from api.snapshots import OpenSnapshot
from api.warehouse import Warehouse

if TYPE_CHECKING:
    from strawberry.types import Info


@dataclass
class Context:
    principal: Principal
    snapshot: OpenSnapshot
    limits: Limits
    db: Warehouse
    loaders: Loaders

    @classmethod
    def create(cls, principal: Principal, snapshot: OpenSnapshot, limits: Limits,
               on_query: Callable[[], None] | None = None) -> Context:
        db = Warehouse(snapshot, on_query=on_query)
        return cls(principal=principal, snapshot=snapshot, limits=limits, db=db,
                   loaders=Loaders(db))

    def page_size(self, first: int | None, default: int = 20) -> int:
        """``first`` checked against the configured maximum page size."""
        size = default if first is None else first
        maximum = self.limits.max_page_size
        if size < 0 or size > maximum:
            raise PublicError(f"`first` must be between 0 and {maximum}, got {size}")
        return size


def ctx(info: Info) -> Context:
    return info.context
