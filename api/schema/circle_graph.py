"""A call circle as a drawable graph: members, the ties between them, and its history.

The explorer page draws circles from these queries (it has no other way in). Numbers are
PII, so nodes are identified by an opaque ``key`` (a keyed hash of the number, stable for
the server's data directory) that lets the page link edges and expand a node without
ever seeing the number; ``number`` itself is masked per role like everywhere else.
Tie strength is ``graph.warehouse``'s, computed over the circle cut-off's months.
"""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from api import explorer
from api.context import ctx
from api.errors import PublicError
from api.schema.circles import member_fields
from api.warehouse import Row
from graph.warehouse import latest_cutoff_sql, months_filter, tie_strength_sql

MAX_NODES = 5000
MAX_NEIGHBOURS = 200
_WEIGHT = tie_strength_sql("calls", "sms", "seconds")
_KEY = "substr(sha256(CAST(? AS VARCHAR) || {col}), 1, 16)"


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


def _number_columns(have: frozenset[str]) -> tuple[str, str]:
    """Join and columns giving operator and churned flag of ``m.msisdn``, if the tables exist."""
    join, operator, churned, on_net = "", "NULL::VARCHAR", "FALSE", "NULL::BOOLEAN"
    if "numbers" in have:
        join += (" LEFT JOIN (SELECT msisdn, any_value(operator) AS operator, "
                 "any_value(subscription_id) AS subscription_id, "
                 "any_value(customer_id) AS holder, any_value(on_net) AS on_net "
                 "FROM w.numbers GROUP BY msisdn) n ON n.msisdn = m.msisdn")
        operator, on_net = "n.operator", "n.on_net"
        if "churn_events" in have:
            churned = ("coalesce(n.subscription_id IN "
                       "(SELECT subscription_id FROM w.churn_events), FALSE)")
    return join, f"{operator} AS operator, {churned} AS churned, {on_net} AS number_on_net"


async def _edges(info: Info, secret: str, cutoff: dt.date, members: str,
                 params: list[object]) -> list[GraphEdge]:
    """Ties whose both ends are in ``members`` (a SQL set of numbers)."""
    rows = await ctx(info).db.fetch(
        f"""
        WITH m AS ({members}),
        p AS (SELECT a, b, sum(calls_ab + calls_ba) AS calls, sum(sms_ab + sms_ba) AS sms,
                     sum(seconds_ab + seconds_ba) AS seconds
              FROM w.call_edges
              WHERE a IN (SELECT msisdn FROM m) AND b IN (SELECT msisdn FROM m)
                AND {months_filter(cutoff, None)}
              GROUP BY a, b)
        SELECT {_KEY.format(col="a")} AS source, {_KEY.format(col="b")} AS target,
               calls, sms, seconds, ({_WEIGHT})::DOUBLE AS weight
        FROM p ORDER BY weight DESC
        """, [*params, secret, secret])
    return [GraphEdge.from_row(r["source"], r["target"], r) for r in rows]


async def circle_graph(info: Info, circle_id: str, max_nodes: int) -> CircleGraph | None:
    context = ctx(info)
    if not 1 <= max_nodes <= MAX_NODES:
        raise PublicError(f"`maxNodes` must be between 1 and {MAX_NODES}")
    circle = await context.loaders.circle.load(circle_id)
    if circle is None or not context.db.has("circle_members_by_circle"):
        return None
    have = context.snapshot.tables
    secret = explorer.node_key_secret(context.snapshot.snapshot.path.parent.parent)
    join, columns = _number_columns(have)
    members = await context.db.fetch(
        f"""
        SELECT m.msisdn, m.on_net, m.pagerank, m.is_influencer, m.customer_id, m.circle_id,
               {_KEY.format(col="m.msisdn")} AS key, {columns}
        FROM circle_members_by_circle m {join}
        WHERE m.circle_id = ? ORDER BY m.pagerank DESC, m.msisdn LIMIT ?
        """, [secret, circle_id, max_nodes + 1])
    truncated = len(members) > max_nodes
    members = members[:max_nodes]
    cutoff = circle["cutoff"]
    edges: list[GraphEdge] = []
    if "call_edges" in have:
        edges = await _edges(info, secret, cutoff, (
            "SELECT msisdn FROM circle_members_by_circle WHERE circle_id = ? "
            "ORDER BY pagerank DESC, msisdn LIMIT ?"), [circle_id, max_nodes])
    history: list[CirclePoint] = []
    if "circles" in have:
        rows = await context.db.fetch(
            "SELECT cutoff, size, churned_members, churn_rate, total_value, density "
            "FROM w.circles WHERE CAST(circle_id AS VARCHAR) = ? ORDER BY cutoff",
            [circle_id])
        history = [CirclePoint(cutoff=r["cutoff"], size=int(r["size"]),
                               churned_members=r["churned_members"], churn_rate=r["churn_rate"],
                               total_value=r["total_value"], density=r["density"])
                   for r in rows]
    lineage: list[CircleLineage] = []
    if "circle_lineage" in have:
        rows = await context.db.fetch(
            "SELECT * FROM w.circle_lineage WHERE kind <> 'continued' AND "
            "(CAST(circle_id AS VARCHAR) = ? OR CAST(previous_circle_id AS VARCHAR) = ?) "
            "ORDER BY cutoff, previous_circle_id, circle_id", [circle_id, circle_id])
        lineage = [CircleLineage(
            cutoff=r["cutoff"], previous_cutoff=r["previous_cutoff"],
            previous_circle_id=str(r["previous_circle_id"]), circle_id=str(r["circle_id"]),
            kind=r["kind"], overlap=int(r["overlap"]), previous_size=int(r["previous_size"]),
            size=int(r["size"])) for r in rows]
    return CircleGraph(nodes=[GraphNode.from_row(r) for r in members], edges=edges,
                       truncated=truncated, circle_id=circle_id, cutoff=cutoff,
                       history=history, lineage=lineage)


async def neighbourhood(info: Info, key: str, first: int) -> Subgraph:
    context = ctx(info)
    if not 1 <= first <= MAX_NEIGHBOURS:
        raise PublicError(f"`first` must be between 1 and {MAX_NEIGHBOURS}")
    have = context.snapshot.tables
    if "call_edges" not in have or not context.db.has("circle_members_latest"):
        return Subgraph(nodes=[], edges=[], truncated=False)
    secret = explorer.node_key_secret(context.snapshot.snapshot.path.parent.parent)
    known = "SELECT msisdn FROM circle_members_latest"
    if "numbers" in have:
        known += " UNION SELECT msisdn FROM w.numbers"
    found = await context.db.fetch(
        f"SELECT msisdn FROM ({known}) WHERE {_KEY.format(col='msisdn')} = ? LIMIT 1",
        [secret, key])
    if not found:
        raise PublicError("unknown node key")
    me = found[0]["msisdn"]
    cutoff_rows = await context.db.fetch(
        f"SELECT {latest_cutoff_sql('circle_members_latest')} AS cutoff")
    cutoff = cutoff_rows[0]["cutoff"]
    join, columns = _number_columns(have)
    holder = "n.holder" if "numbers" in have else "NULL::VARCHAR"
    rows = await context.db.fetch(
        f"""
        WITH p AS (SELECT CASE WHEN a = ? THEN b ELSE a END AS msisdn,
                          sum(calls_ab + calls_ba) AS calls, sum(sms_ab + sms_ba) AS sms,
                          sum(seconds_ab + seconds_ba) AS seconds
                   FROM w.call_edges WHERE (a = ? OR b = ?) AND {months_filter(cutoff, None)}
                   GROUP BY ALL),
        t AS (SELECT *, ({_WEIGHT})::DOUBLE AS weight FROM p ORDER BY weight DESC, msisdn
              LIMIT ?)
        SELECT m.*, {_KEY.format(col="m.msisdn")} AS key, c.on_net AS member_on_net,
               c.pagerank, c.is_influencer, c.circle_id,
               coalesce(c.customer_id, {holder}) AS customer_id, {columns}
        FROM t AS m LEFT JOIN circle_members_latest c USING (msisdn) {join}
        ORDER BY weight DESC
        """, [me, me, me, first + 1, secret])
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
