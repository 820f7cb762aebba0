"""Which snapshot answered: id, manifest and the tables it holds."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import ctx


@strawberry.type(description="The published snapshot this request was answered from.")
class SnapshotInfo:
    id: str
    loaded_at: dt.datetime = strawberry.field(description="When this server opened it.")
    manifest: JSON = strawberry.field(description="What built it: run id, inputs, counts.")
    tables: list[str] = strawberry.field(description="Warehouse tables present.")

    @classmethod
    def current(cls, info: Info) -> SnapshotInfo:
        snapshot = ctx(info).snapshot
        return cls(id=snapshot.id, loaded_at=dt.datetime.fromtimestamp(snapshot.loaded_at, dt.UTC),
                   manifest=snapshot.manifest, tables=sorted(snapshot.tables))
