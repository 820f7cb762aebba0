"""Data access for the API: batched, parameterised reads of a snapshot's serving copy.

Each function takes a request's :class:`~api.warehouse.Warehouse` and a *batch* of
keys (a dataloader's batch), issues one query, and returns rows grouped by key.
SQL text is fixed here; client input travels only as parameters. Lookups add the
batch's key range (``BETWEEN min AND max``) so the sorted serving tables
(``api.serving``) are read a row group at a time instead of scanned. A table a
snapshot does not have (an older snapshot, a stage that has not run) reads as empty.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from api.serving import read_card
from api.warehouse import Row, Warehouse
from graph.warehouse import latest_cutoff_sql, months_filter, tie_strength_sql

CUSTOMER_COLUMNS = (
    "customer_id, customer_type, name, gender, birth_date, id_number, address, region, "
    "join_date, do_not_contact"
)


def _by_key(rows: list[Row], key: str) -> dict[Any, Row]:
    return {row[key]: row for row in rows}


def _group(rows: list[Row], key: str) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


class _KeyFilter:
    """``col = ?`` for one key (the customer-360 case, cheapest to plan), else
    ``col BETWEEN ? AND ? AND list_contains(?, col)``: the range lets the zone maps of
    the sorted serving tables skip row groups, the list picks the keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.values = list(dict.fromkeys(keys))

    def sql(self, column: str) -> str:
        if len(self.values) == 1:
            return f"{column} = ?"
        return f"{column} BETWEEN ? AND ? AND list_contains(?, {column})"

    def params(self) -> list[Any]:
        if len(self.values) == 1:
            return [self.values[0]]
        return [min(self.values), max(self.values), self.values]


def _in(column: str, keys: Sequence[str]) -> str:
    return _KeyFilter(keys).sql(column)


def _keys(keys: Sequence[str]) -> list[Any]:
    return _KeyFilter(keys).params()


async def _rows_for(db: Warehouse, table: str, column: str, keys: Sequence[str],
                    order_by: str = "") -> list[Row]:
    """Every column of an optional serving table for some keys; none when the snapshot
    has not got the table (an ingest-only snapshot has no scores, tags or circles)."""
    if not db.has(table):
        return []
    order = f" ORDER BY {order_by}" if order_by else ""
    return await db.fetch(f"SELECT * FROM {table} WHERE {_in(column, keys)}{order}",
                          _keys(keys))


async def _first_per_key(db: Warehouse, table: str, column: str, keys: Sequence[str],
                         order_by: str, limit: int) -> dict[str, list[Row]]:
    """The first ``limit`` rows of an optional serving table for each key, in ``order_by``;
    each row carries its 1-based ``rank`` and its key's ``total`` (a page's whole list)."""
    if not db.has(table):
        return {}
    rows = await db.fetch(
        f"""
        SELECT * FROM (
            SELECT *, row_number() OVER (PARTITION BY {column} ORDER BY {order_by}) AS rank,
                   count(*) OVER (PARTITION BY {column}) AS total
            FROM {table} WHERE {_in(column, keys)}
        ) WHERE rank <= ? ORDER BY {column}, rank
        """,
        [*_keys(keys), limit],
    )
    return _group(rows, column)


async def customers_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    rows = await db.fetch(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE {_in('customer_id', ids)}", _keys(ids))
    return _by_key(rows, "customer_id")


async def customer_ids_by_msisdn(db: Warehouse, msisdns: Sequence[str]) -> dict[str, str]:
    """The holder of each number: the line not terminated first, else the latest."""
    rows = await db.fetch(
        f"SELECT msisdn, customer_id FROM line_holders WHERE {_in('msisdn', msisdns)}",
        _keys(msisdns))
    return {row["msisdn"]: row["customer_id"] for row in rows}


SUBSCRIPTION_COLUMNS = (
    "subscription_id, customer_id, msisdn, product_id, status, start_date, end_date"
)


async def subscriptions_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, list[Row]]:
    """All lines of each customer, active first (the serving table's order)."""
    rows = await db.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {_in('customer_id', ids)} "
        "ORDER BY customer_id, status <> 'active', start_date, subscription_id",
        _keys(ids),
    )
    return _group(rows, "customer_id")


async def subscriptions_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    rows = await db.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions_by_id "
        f"WHERE {_in('subscription_id', ids)}", _keys(ids))
    return _by_key(rows, "subscription_id")


async def products_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    """From memory when the catalogue is small (see ``OpenSnapshot.products``)."""
    if not db.has("products"):
        return {}
    if db.snapshot.products is not None:
        return {key: db.snapshot.products[key] for key in ids if key in db.snapshot.products}
    rows = await db.fetch(
        f"""
        SELECT product_id, name, product_type, payment_type, monthly_fee, included_minutes,
               included_sms, included_data_mb, price_per_minute, price_per_mb
        FROM products WHERE {_in('product_id', ids)}
        """,
        _keys(ids),
    )
    return _by_key(rows, "product_id")


async def channel_history_by_customer(db: Warehouse,
                                      ids: Sequence[str]) -> dict[str, list[Row]]:
    """Per customer and channel: how many contacts, and the last one (latest first)."""
    rows = await _rows_for(db, "channel_history", "customer_id", ids,
                           "customer_id, last_contact_at DESC, channel")
    return _group(rows, "customer_id")


async def bills_summary_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    """Bills over all of a customer's lines; arrears = each line's latest bill's arrears."""
    return _by_key(await _rows_for(db, "bills_summary", "customer_id", ids), "customer_id")


async def top_contacts_by_customer(db: Warehouse, ids: Sequence[str],
                                   limit: int) -> dict[str, list[Row]]:
    """The numbers each customer's lines talk to, strongest tie first, ``limit`` each.

    Tie strength is ``graph.warehouse``'s (calls, SMS and minutes, both directions,
    all months of the snapshot); calls between two lines of the same customer are left
    out. Each row carries its 1-based ``rank`` and the customer's ``total`` contacts.
    """
    return await _first_per_key(db, "contacts", "customer_id", ids, "weight DESC, other",
                                limit)


# -- customer lists ------------------------------------------------------------------


class CustomerSort(enum.Enum):
    """Sortable columns; each maps to fixed SQL, never to client text."""

    CUSTOMER_ID = ("customer_id", "VARCHAR")
    JOIN_DATE = ("join_date", "DATE")
    REGION = ("region", "VARCHAR")

    @property
    def column(self) -> str:
        return self.value[0]

    @property
    def sql_type(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class CustomerQuery:
    """Which customers, in which order (all conditions must hold)."""

    plans: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    customer_types: tuple[str, ...] | None = None
    segments: tuple[str, ...] | None = None
    tiers: tuple[str, ...] | None = None
    circles: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    min_risk: float | None = None
    max_risk: float | None = None
    sort: CustomerSort = CustomerSort.CUSTOMER_ID
    descending: bool = False

    def where(self, has: Callable[[str], bool]) -> tuple[list[str], list[Any]]:
        """SQL conditions and their parameters; a stage's table missing matches nothing."""
        clauses: list[str] = []
        params: list[Any] = []

        def stage(table: str, clause: str, *values: Any) -> None:
            if has(table):
                clauses.append(clause)
                params.extend(values)
            else:
                clauses.append("false")

        if self.segments is not None:
            stage("segment_members_latest",
                  "customer_id IN (SELECT customer_id FROM segment_members_latest "
                  "WHERE list_contains(?, segment_id))", list(self.segments))
        if self.tiers is not None:
            stage("value_latest", "customer_id IN (SELECT customer_id FROM value_latest "
                  "WHERE list_contains(?, value_tier))", list(self.tiers))
        if self.circles is not None:
            stage("circle_members_latest",
                  "customer_id IN (SELECT customer_id FROM circle_members_latest "
                  "WHERE list_contains(?, circle_id))", list(self.circles))
        if self.tags is not None:
            stage("tags_latest", "customer_id IN (SELECT customer_id FROM tags_latest "
                  "WHERE list_contains(?, tag_id))", list(self.tags))
        if self.min_risk is not None or self.max_risk is not None:
            stage("value_latest", "customer_id IN (SELECT customer_id FROM value_latest "
                  "WHERE churn_risk BETWEEN coalesce(?, 0) AND coalesce(?, 1))",
                  self.min_risk, self.max_risk)
        if self.plans is not None:
            clauses.append(
                "customer_id IN (SELECT customer_id FROM subscriptions "
                "WHERE status <> 'terminated' AND list_contains(?, product_id))"
            )
            params.append(list(self.plans))
        if self.regions is not None:
            clauses.append("list_contains(?, region)")
            params.append(list(self.regions))
        if self.customer_types is not None:
            clauses.append("list_contains(?, customer_type)")
            params.append(list(self.customer_types))
        return clauses, params


async def customer_page(db: Warehouse, query: CustomerQuery, after: tuple[Any, str] | None,
                        limit: int) -> list[Row]:
    """Up to ``limit`` customers after the keyset position ``after`` = (sort value, id)."""
    clauses, params = query.where(db.has)
    column, sql_type = query.sort.column, query.sort.sql_type
    direction = "DESC" if query.descending else "ASC"
    if after is not None:
        op = "<" if query.descending else ">"
        clauses.append(f"({column}, customer_id) {op} (CAST(? AS {sql_type}), ?)")
        params.extend(after)
        if query.sort is CustomerSort.CUSTOMER_ID:  # lets the zone maps skip row groups
            clauses.append(f"customer_id {op}= ?")
            params.append(after[1])
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    return await db.fetch(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers {where} "
        f"ORDER BY {column} {direction}, customer_id {direction} LIMIT ?",
        params,
    )


async def count_customers(db: Warehouse, query: CustomerQuery) -> int:
    clauses, params = query.where(db.has)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetch(f"SELECT count(*) AS n FROM customers {where}", params)
    return int(rows[0]["n"])


# -- graph and insight stages (latest cut-off; empty until the stage has run) --------


async def churn_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, list[Row]]:
    """Churn scores of each customer's lines, highest risk first."""
    rows = await _rows_for(db, "churn_latest", "customer_id", ids, "customer_id, churn_risk DESC")
    return _group(rows, "customer_id")


async def churn_page(db: Warehouse, after_rank: int, limit: int, min_risk: float | None,
                     max_risk: float | None) -> list[Row]:
    """Lines by descending risk (``risk_rank``), after a rank, within a risk range."""
    if not db.has("churn_by_rank"):
        return []
    return await db.fetch(
        "SELECT * FROM churn_by_rank WHERE risk_rank > ? "
        "AND churn_risk >= coalesce(?, 0) AND churn_risk <= coalesce(?, 1) "
        "ORDER BY risk_rank LIMIT ?",
        [after_rank, min_risk, max_risk, limit],
    )


async def value_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    return _by_key(await _rows_for(db, "value_latest", "customer_id", ids), "customer_id")


async def segment_members_by_customer(db: Warehouse,
                                      ids: Sequence[str]) -> dict[str, list[Row]]:
    rows = await _rows_for(db, "segment_members_latest", "customer_id", ids,
                           "customer_id, subscription_id")
    return _group(rows, "customer_id")


async def segments_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    return _by_key(await _rows_for(db, "segments_latest", "segment_id", ids), "segment_id")


async def all_segments(db: Warehouse) -> list[Row]:
    if not db.has("segments_latest"):
        return []
    return await db.fetch("SELECT * FROM segments_latest ORDER BY subscribers DESC, segment_id")


async def circle_memberships_by_customer(db: Warehouse,
                                         ids: Sequence[str]) -> dict[str, list[Row]]:
    """The circles of each customer's numbers, most central number first."""
    rows = await _rows_for(db, "circle_members_latest", "customer_id", ids,
                           "customer_id, pagerank DESC")
    return _group(rows, "customer_id")


async def circles_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    return _by_key(await _rows_for(db, "circles_latest", "circle_id", ids), "circle_id")


async def circle_members(db: Warehouse, circle_ids: Sequence[str],
                         limit: int) -> dict[str, list[Row]]:
    """Members of each circle by descending PageRank, ``limit`` each, with rank and total."""
    return await _first_per_key(db, "circle_members_by_circle", "circle_id", circle_ids,
                                "pagerank DESC, msisdn", limit)


async def influencers(db: Warehouse, circle_ids: Sequence[str]) -> dict[str, list[Row]]:
    if not db.has("circle_members_by_circle"):
        return {}
    rows = await db.fetch(
        f"SELECT * FROM circle_members_by_circle WHERE {_in('circle_id', circle_ids)} "
        "AND is_influencer ORDER BY circle_id, pagerank DESC", _keys(circle_ids))
    return _group(rows, "circle_id")


class CircleSort(enum.Enum):
    SIZE = "size"
    CHURN_RATE = "churn_rate"
    TOTAL_VALUE = "total_value"
    DENSITY = "density"


async def circle_page(db: Warehouse, sort: CircleSort, after: tuple[float, str] | None,
                      limit: int, min_size: int | None) -> list[Row]:
    """Circles by a descending measure (then id), keyset-paged."""
    if not db.has("circles_latest"):
        return []
    column = sort.value
    clauses, params = ["size >= coalesce(?, 0)"], [min_size]
    if after is not None:
        clauses.append(f"(coalesce({column}, 0), circle_id) < (CAST(? AS DOUBLE), ?)")
        params.extend(after)
    params.append(limit)
    return await db.fetch(
        f"SELECT * FROM circles_latest WHERE {' AND '.join(clauses)} "
        f"ORDER BY coalesce({column}, 0) DESC, circle_id DESC LIMIT ?", params)


async def prospect_page(db: Warehouse, after_rank: int, limit: int,
                        min_customers: int | None) -> list[Row]:
    """Off-net prospects by descending score (``graph.prospects``), keyset on rank."""
    if not db.has("prospects_latest"):
        return []
    return await db.fetch(
        "SELECT * FROM prospects_latest WHERE rank > ? "
        "AND distinct_customers >= coalesce(?, 0) ORDER BY rank LIMIT ?",
        [after_rank, min_customers, limit])


async def referrers_by_prospect(db: Warehouse, msisdns: Sequence[str]) -> dict[str, list[Row]]:
    rows = await _rows_for(db, "prospect_referrers_latest", "msisdn", msisdns,
                           "msisdn, weight DESC")
    return _group(rows, "msisdn")


async def graph_features_by_customer(db: Warehouse,
                                     ids: Sequence[str]) -> dict[str, list[Row]]:
    """Graph features (``graph.features``) of each customer's numbers."""
    rows = await _rows_for(db, "graph_features_latest", "customer_id", ids, "customer_id, msisdn")
    return _group(rows, "customer_id")


async def tags_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, list[Row]]:
    """Tag ids of each customer in the latest tagged period (``insight.tags``)."""
    rows = await _rows_for(db, "tags_latest", "customer_id", ids, "customer_id, tag_id")
    return _group(rows, "customer_id")


async def cards_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    """Customer-360 cards (``api.serving.CARD_SQL``): lines, channels, bills, first contacts."""
    if not db.has("customer_card"):
        return {}
    rows = await db.fetch(
        f"SELECT customer_id, card FROM customer_card WHERE {_in('customer_id', ids)}",
        _keys(ids))
    return {row["customer_id"]: read_card(row["card"]) for row in rows}


# -- the explorer's drawable graph (``api.schema.circle_graph``) ---------------------------
#
# Numbers are PII: a node is named by ``key``, a keyed hash of its number (the secret is
# ``api.explorer.node_key_secret``), and the page never sees the number itself.

_WEIGHT = tie_strength_sql("calls", "sms", "seconds")
_NODE_KEY = "substr(sha256(CAST(? AS VARCHAR) || {col}), 1, 16)"


def _number_columns(db: Warehouse) -> tuple[str, str]:
    """Join and columns giving operator and churned flag of ``m.msisdn``, if the tables exist."""
    join, operator, churned, on_net = "", "NULL::VARCHAR", "FALSE", "NULL::BOOLEAN"
    if db.warehouse_has("numbers"):
        join += (" LEFT JOIN (SELECT msisdn, any_value(operator) AS operator, "
                 "any_value(subscription_id) AS subscription_id, "
                 "any_value(customer_id) AS holder, any_value(on_net) AS on_net "
                 "FROM w.numbers GROUP BY msisdn) n ON n.msisdn = m.msisdn")
        operator, on_net = "n.operator", "n.on_net"
        if db.warehouse_has("churn_events"):
            churned = ("coalesce(n.subscription_id IN "
                       "(SELECT subscription_id FROM w.churn_events), FALSE)")
    return join, f"{operator} AS operator, {churned} AS churned, {on_net} AS number_on_net"


async def drawn_circle_members(db: Warehouse, secret: str, circle_id: str,
                               limit: int) -> list[Row]:
    """A circle's members, most central first, ``limit`` at most, each with its ``key``."""
    join, columns = _number_columns(db)
    return await db.fetch(
        f"""
        SELECT m.msisdn, m.on_net, m.pagerank, m.is_influencer, m.customer_id, m.circle_id,
               {_NODE_KEY.format(col="m.msisdn")} AS key, {columns}
        FROM circle_members_by_circle m {join}
        WHERE m.circle_id = ? ORDER BY m.pagerank DESC, m.msisdn LIMIT ?
        """, [secret, circle_id, limit])


async def circle_ties(db: Warehouse, secret: str, cutoff: Any, circle_id: str,
                      limit: int) -> list[Row]:
    """Ties between the ``limit`` most central members of a circle over the cut-off's
    months (keys of both ends, summed calls, SMS, seconds and their ``weight``)."""
    if not db.warehouse_has("call_edges"):
        return []
    return await db.fetch(
        f"""
        WITH m AS (SELECT msisdn FROM circle_members_by_circle WHERE circle_id = ?
                   ORDER BY pagerank DESC, msisdn LIMIT ?),
        p AS (SELECT a, b, sum(calls_ab + calls_ba) AS calls, sum(sms_ab + sms_ba) AS sms,
                     sum(seconds_ab + seconds_ba) AS seconds
              FROM w.call_edges
              WHERE a IN (SELECT msisdn FROM m) AND b IN (SELECT msisdn FROM m)
                AND {months_filter(cutoff, None)}
              GROUP BY a, b)
        SELECT {_NODE_KEY.format(col="a")} AS source, {_NODE_KEY.format(col="b")} AS target,
               calls, sms, seconds, ({_WEIGHT})::DOUBLE AS weight
        FROM p ORDER BY weight DESC
        """, [circle_id, limit, secret, secret])


async def circle_history(db: Warehouse, circle_id: str) -> list[Row]:
    """A circle's measures at every cut-off it was found at."""
    if not db.warehouse_has("circles"):
        return []
    return await db.fetch(
        "SELECT cutoff, size, churned_members, churn_rate, total_value, density "
        "FROM w.circles WHERE CAST(circle_id AS VARCHAR) = ? ORDER BY cutoff", [circle_id])


async def circle_lineage(db: Warehouse, circle_id: str) -> list[Row]:
    """The splits and merges from or into a circle across cut-offs."""
    if not db.warehouse_has("circle_lineage"):
        return []
    return await db.fetch(
        "SELECT * FROM w.circle_lineage WHERE kind <> 'continued' AND "
        "(CAST(circle_id AS VARCHAR) = ? OR CAST(previous_circle_id AS VARCHAR) = ?) "
        "ORDER BY cutoff, previous_circle_id, circle_id", [circle_id, circle_id])


async def number_by_key(db: Warehouse, secret: str, key: str) -> str | None:
    """The number a drawn node's ``key`` stands for (a circle member or a known number)."""
    known = "SELECT msisdn FROM circle_members_latest"
    if db.warehouse_has("numbers"):
        known += " UNION SELECT msisdn FROM w.numbers"
    rows = await db.fetch(
        f"SELECT msisdn FROM ({known}) WHERE {_NODE_KEY.format(col='msisdn')} = ? LIMIT 1",
        [secret, key])
    return rows[0]["msisdn"] if rows else None


async def neighbours(db: Warehouse, secret: str, msisdn: str, limit: int) -> list[Row]:
    """The numbers ``msisdn`` talks to most over the latest circle cut-off's months,
    strongest tie first, ``limit`` at most, with their circle and holder."""
    cutoff_rows = await db.fetch(
        f"SELECT {latest_cutoff_sql('circle_members_latest')} AS cutoff")
    cutoff = cutoff_rows[0]["cutoff"]
    join, columns = _number_columns(db)
    holder = "n.holder" if db.warehouse_has("numbers") else "NULL::VARCHAR"
    return await db.fetch(
        f"""
        WITH p AS (SELECT CASE WHEN a = ? THEN b ELSE a END AS msisdn,
                          sum(calls_ab + calls_ba) AS calls, sum(sms_ab + sms_ba) AS sms,
                          sum(seconds_ab + seconds_ba) AS seconds
                   FROM w.call_edges WHERE (a = ? OR b = ?) AND {months_filter(cutoff, None)}
                   GROUP BY ALL),
        t AS (SELECT *, ({_WEIGHT})::DOUBLE AS weight FROM p ORDER BY weight DESC, msisdn
              LIMIT ?)
        SELECT m.*, {_NODE_KEY.format(col="m.msisdn")} AS key, c.on_net AS member_on_net,
               c.pagerank, c.is_influencer, c.circle_id,
               coalesce(c.customer_id, {holder}) AS customer_id, {columns}
        FROM t AS m LEFT JOIN circle_members_latest c USING (msisdn) {join}
        ORDER BY weight DESC
        """, [msisdn, msisdn, msisdn, limit, secret])
