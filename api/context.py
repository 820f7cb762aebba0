"""What every resolver gets: the caller, the snapshot of this request, its loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from api.auth import Principal, Role
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
    request: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, principal: Principal, snapshot: OpenSnapshot, limits: Limits,
               on_query: Any = None, request: Any = None) -> Context:
        db = Warehouse(snapshot, on_query=on_query)
        return cls(principal=principal, snapshot=snapshot, limits=limits, db=db,
                   loaders=Loaders(db), request=request)

    def page_size(self, first: int | None, default: int = 20) -> int:
        """``first`` checked against the configured maximum page size."""
        size = default if first is None else first
        maximum = self.limits.max_page_size
        if size < 0 or size > maximum:
            raise PublicError(f"`first` must be between 0 and {maximum}, got {size}")
        return size

    def require(self, role: Role) -> None:
        if not self.principal.role.at_least(role):
            raise PublicError(f"this field needs the {role.value} role")


def ctx(info: Info) -> Context:
    return info.context
