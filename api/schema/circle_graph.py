"""A call circle as a drawable graph: members, the ties between them, and its history.

The explorer page draws circles from these queries (it has no other way in). Numbers are
PII, so nodes are identified by an opaque ``key`` (a keyed hash of the number, stable for
the server's data directory) that lets the page link edges and expand a node without
ever seeing the number; ``number`` itself is masked per role like everywhere else.
Tie strength is ``graph.warehouse``'s, computed over the circle cut-off's months; the SQL
is ``api.store``'s, like every other read.
"""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from api import explorer, store
from api.context import ctx
from api.errors import PublicError
from api.schema.circles import member_fields
from api.warehouse import Row

MAX_NODES = 5000
MAX_NEIGHBOURS = 200


@strawberry.type(description="A number drawn in the explorer: a circle member or a neighbour.")
class GraphNode:
    key: str = strawberry.field(description="Opaque id of the number, stable per service.")
    on_net: bool | None
    operator: str | None
    pagerank: float | None
    is_influencer: bool
    churned: bool = strawberry.field(description="The number's line has left (churn event).")
    circle_id: str | None
    _row: strawberry.Private[Row]
    number, customer = member_fields()

    @classmethod
    def from_row(cls, row: Row) -> GraphNode:
        circle = row.get("circle_id")
        return cls(key=row["key"], on_net=row.get("on_net"), operator=row.get("operator"),
                   pagerank=row.get("pagerank"), is_influencer=bool(row.get("is_influencer")),
                   churned=bool(row.get("churned")),
                   circle_id=None if circle is None else str(circle), _row=row)


@strawberry.type(description="A tie between two drawn numbers (both directions, all months).")
class GraphEdge:
    source: str
    target: str
    weight: float = strawberry.field(description="Tie strength, as the call graph weighs it.")
    calls: int
    sms: int
    seconds: int

    @classmethod
    def from_row(cls, source: str, target: str, row: Row) -> GraphEdge:
        """A tie from a row of summed ``calls``, ``sms``, ``seconds`` and its ``weight``."""
        return cls(source=source, target=target, weight=float(row["weight"]),
                   calls=int(row["calls"]), sms=int(row["sms"]), seconds=int(row["seconds"]))


@strawberry.type(description="A circle's measures at one cut-off.")
class CirclePoint:
    cutoff: dt.date
    size: int
    churned_members: int | None
    churn_rate: float | None
    total_value: float | None
    density: float | None


@strawberry.type(description="A split or merge between two cut-offs touching this circle.")
class CircleLineage:
    cutoff: dt.date
    previous_cutoff: dt.date | None
    previous_circle_id: str
    circle_id: str
    kind: str = strawberry.field(description="`split`, `merged` or `continued`.")
    overlap: int
    previous_size: int
    size: int


@strawberry.type(description="Numbers and the ties between them, ready to draw.")
class Subgraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = strawberry.field(description="More numbers than asked for were left out.")


@strawberry.type(description="A call circle as a graph, with its history across cut-offs.")
class CircleGraph(Subgraph):
    circle_id: str
    cutoff: dt.date
    history: list[CirclePoint]
    lineage: list[CircleLineage]


def _node_key_secret(info: Info) -> str:
    return explorer.node_key_secret(ctx(info).store.root)


async def circle_graph(info: Info, circle_id: str, max_nodes: int) -> CircleGraph | None:
    context = ctx(info)
    if not 1 <= max_nodes <= MAX_NODES:
        raise PublicError(f"`maxNodes` must be between 1 and {MAX_NODES}")
    circle = await context.loaders.circle.load(circle_id)
    if circle is None or not context.db.has("circle_members_by_circle"):
        return None
    secret = _node_key_secret(info)
    members = await store.drawn_circle_members(context.db, secret, circle_id, max_nodes + 1)
    truncated = len(members) > max_nodes
    members = members[:max_nodes]
    cutoff = circle["cutoff"]
    ties = await store.circle_ties(context.db, secret, cutoff, circle_id, max_nodes)
    history = [CirclePoint(cutoff=r["cutoff"], size=int(r["size"]),
                           churned_members=r["churned_members"], churn_rate=r["churn_rate"],
                           total_value=r["total_value"], density=r["density"])
               for r in await store.circle_history(context.db, circle_id)]
    lineage = [CircleLineage(
        cutoff=r["cutoff"], previous_cutoff=r["previous_cutoff"],
        previous_circle_id=str(r["previous_circle_id"]), circle_id=str(r["circle_id"]),
        kind=r["kind"], overlap=int(r["overlap"]), previous_size=int(r["previous_size"]),
        size=int(r["size"])) for r in await store.circle_lineage(context.db, circle_id)]
    return CircleGraph(nodes=[GraphNode.from_row(r) for r in members],
                       edges=[GraphEdge.from_row(r["source"], r["target"], r) for r in ties],
                       truncated=truncated, circle_id=circle_id, cutoff=cutoff,
                       history=history, lineage=lineage)


async def neighbourhood(info: Info, key: str, first: int) -> Subgraph:
    context = ctx(info)
    if not 1 <= first <= MAX_NEIGHBOURS:
        raise PublicError(f"`first` must be between 1 and {MAX_NEIGHBOURS}")
    if not context.db.warehouse_has("call_edges") or not context.db.has("circle_members_latest"):
        return Subgraph(nodes=[], edges=[], truncated=False)
    secret = _node_key_secret(info)
    me = await store.number_by_key(context.db, secret, key)
    if me is None:
        raise PublicError("unknown node key")
    rows = await store.neighbours(context.db, secret, me, first + 1)
    truncated = len(rows) > first
    rows = rows[:first]
    nodes = []
    for row in rows:
        row["on_net"] = next((row[k] for k in ("member_on_net", "number_on_net")
                              if row[k] is not None), row["customer_id"] is not None)
        nodes.append(GraphNode.from_row(row))
    edges = [GraphEdge.from_row(key, row["key"], row) for row in rows]
    return Subgraph(nodes=nodes, edges=edges, truncated=truncated)


@strawberry.type
class CircleGraphQuery:
    @strawberry.field(description="A call circle's members (most central first, at most "
                                  "`maxNodes`), the ties between them and its history.")
    async def circle_graph(self, info: Info, circle_id: str,
                           max_nodes: int = 2000) -> CircleGraph | None:
        return await circle_graph(info, circle_id, max_nodes)

    @strawberry.field(description="The numbers a drawn node talks to most (by its `key`), "
                                  "strongest tie first.")
    async def neighbourhood(self, info: Info, key: str, first: int = 20) -> Subgraph:
        return await neighbourhood(info, key, first)
