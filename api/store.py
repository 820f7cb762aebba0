"""Data access for the API: batched, parameterised reads of a snapshot's warehouse.

Each function takes a request's :class:`~api.warehouse.Warehouse` and a *batch* of
keys (a dataloader's batch), issues one query, and returns rows grouped by key.
SQL text is fixed here; client input travels only as parameters. A table a snapshot
does not have yet (an older snapshot, a stage that has not run) reads as empty.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from api.warehouse import Row, Warehouse

CUSTOMER_COLUMNS = (
    "customer_id, customer_type, name, gender, birth_date, id_number, address, region, "
    "join_date, coalesce(do_not_contact, false) AS do_not_contact"
)


def _by_key(rows: list[Row], key: str) -> dict[Any, Row]:
    return {row[key]: row for row in rows}


def _group(rows: list[Row], key: str) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


async def customers_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    rows = await db.fetch(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE list_contains(?, customer_id)",
        [list(ids)],
    )
    return _by_key(rows, "customer_id")


async def customer_ids_by_msisdn(db: Warehouse, msisdns: Sequence[str]) -> dict[str, str]:
    """The holder of each number: the active line first, else the most recent one."""
    rows = await db.fetch(
        """
        SELECT msisdn, arg_max(customer_id, (status <> 'terminated', start_date)) AS customer_id
        FROM subscriptions WHERE list_contains(?, msisdn) GROUP BY msisdn
        """,
        [list(msisdns)],
    )
    return {row["msisdn"]: row["customer_id"] for row in rows}


SUBSCRIPTION_COLUMNS = (
    "subscription_id, customer_id, msisdn, product_id, status, start_date, end_date"
)


async def subscriptions_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, list[Row]]:
    rows = await db.fetch(
        f"""
        SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE list_contains(?, customer_id)
        ORDER BY customer_id, status <> 'active', start_date, subscription_id
        """,
        [list(ids)],
    )
    return _group(rows, "customer_id")


async def subscriptions_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    rows = await db.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions "
        "WHERE list_contains(?, subscription_id)",
        [list(ids)],
    )
    return _by_key(rows, "subscription_id")


async def products_by_id(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    if not db.has("products"):
        return {}
    rows = await db.fetch(
        """
        SELECT product_id, name, product_type, payment_type, monthly_fee, included_minutes,
               included_sms, included_data_mb, price_per_minute, price_per_mb
        FROM products WHERE list_contains(?, product_id)
        """,
        [list(ids)],
    )
    return _by_key(rows, "product_id")


async def channel_history_by_customer(db: Warehouse,
                                      ids: Sequence[str]) -> dict[str, list[Row]]:
    """Per customer and channel: how many contacts, and the last one."""
    if not db.has("interactions"):
        return {}
    rows = await db.fetch(
        """
        SELECT customer_id, channel, count(*) AS contacts,
               max(occurred_at) AS last_contact_at,
               arg_max(category, occurred_at) AS last_category,
               arg_max(outcome, occurred_at) AS last_outcome
        FROM interactions WHERE list_contains(?, customer_id)
        GROUP BY customer_id, channel
        ORDER BY customer_id, last_contact_at DESC, channel
        """,
        [list(ids)],
    )
    return _group(rows, "customer_id")


async def bills_summary_by_customer(db: Warehouse, ids: Sequence[str]) -> dict[str, Row]:
    """Bills over all of a customer's lines; arrears = the latest bill's arrears, per line."""
    if not db.has("bills"):
        return {}
    rows = await db.fetch(
        """
        WITH b AS (
            SELECT s.customer_id, b.subscription_id, b.period, b.total_amount,
                   coalesce(b.arrears, 0) AS arrears
            FROM bills b JOIN subscriptions s USING (subscription_id)
            WHERE list_contains(?, s.customer_id)
        ),
        monthly AS (
            SELECT customer_id, period, sum(total_amount) AS total FROM b GROUP BY ALL
        ),
        months AS (
            SELECT customer_id, count(*) AS months, min(period) AS first_period,
                   max(period) AS last_period, arg_max(total, period) AS last_month_total,
                   avg(total) AS average_monthly_total, sum(total) AS total_billed
            FROM monthly GROUP BY customer_id
        ),
        arrears AS (
            SELECT customer_id, sum(latest) AS arrears, count(*) AS lines_billed,
                   sum(bills) AS bills
            FROM (SELECT customer_id, subscription_id, arg_max(arrears, period) AS latest,
                         count(*) AS bills
                  FROM b GROUP BY ALL)
            GROUP BY customer_id
        )
        SELECT * FROM months JOIN arrears USING (customer_id)
        """,
        [list(ids)],
    )
    return _by_key(rows, "customer_id")


async def top_contacts_by_customer(db: Warehouse, ids: Sequence[str],
                                   limit: int) -> dict[str, list[Row]]:
    """The numbers each customer's lines talk to, heaviest first, up to ``limit`` each.

    Weight is calls in both directions plus SMS over all months in the snapshot;
    calls between two lines of the same customer are left out. Each row carries
    its 1-based ``rank`` and the customer's ``total`` number of contacts.
    """
    if not db.has("call_edges"):
        return {}
    numbers_join = (
        "LEFT JOIN numbers n ON n.msisdn = r.other" if db.has("numbers")
        else "LEFT JOIN (SELECT NULL::VARCHAR AS msisdn, NULL::BOOLEAN AS on_net, "
             "NULL::VARCHAR AS operator, NULL::VARCHAR AS customer_id) n ON false"
    )
    rows = await db.fetch(
        f"""
        WITH own AS (
            SELECT DISTINCT customer_id, msisdn FROM subscriptions
            WHERE list_contains(?, customer_id)
        ),
        sides AS (
            SELECT o.customer_id, e.b AS other, e.calls_ab AS calls_out, e.calls_ba AS calls_in,
                   e.seconds_ab + e.seconds_ba AS seconds, e.sms_ab + e.sms_ba AS sms,
                   e.night_calls, e.last_contact
            FROM call_edges e JOIN own o ON e.a = o.msisdn
            UNION ALL
            SELECT o.customer_id, e.a, e.calls_ba, e.calls_ab,
                   e.seconds_ab + e.seconds_ba, e.sms_ab + e.sms_ba,
                   e.night_calls, e.last_contact
            FROM call_edges e JOIN own o ON e.b = o.msisdn
        ),
        agg AS (
            SELECT s.customer_id, s.other, sum(calls_out) AS calls_out,
                   sum(calls_in) AS calls_in, sum(seconds) AS seconds, sum(sms) AS sms,
                   sum(night_calls) AS night_calls, max(last_contact) AS last_contact
            FROM sides s ANTI JOIN own o2
                ON o2.customer_id = s.customer_id AND o2.msisdn = s.other
            GROUP BY s.customer_id, s.other
        ),
        ranked AS (
            SELECT *, calls_out + calls_in + sms AS weight,
                   row_number() OVER (PARTITION BY customer_id
                                      ORDER BY calls_out + calls_in + sms DESC,
                                               seconds DESC, other) AS rank,
                   count(*) OVER (PARTITION BY customer_id) AS total
            FROM agg
        )
        SELECT r.*, n.on_net, n.operator, n.customer_id AS other_customer_id
        FROM ranked r {numbers_join}
        WHERE r.rank <= ?
        ORDER BY r.customer_id, r.rank
        """,
        [list(ids), limit],
    )
    return _group(rows, "customer_id")


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
    sort: CustomerSort = CustomerSort.CUSTOMER_ID
    descending: bool = False

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
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
    clauses, params = query.where()
    column, sql_type = query.sort.column, query.sort.sql_type
    direction = "DESC" if query.descending else "ASC"
    if after is not None:
        op = "<" if query.descending else ">"
        clauses.append(f"({column}, customer_id) {op} (CAST(? AS {sql_type}), ?)")
        params.extend(after)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    return await db.fetch(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers {where} "
        f"ORDER BY {column} {direction}, customer_id {direction} LIMIT ?",
        params,
    )


async def count_customers(db: Warehouse, query: CustomerQuery) -> int:
    clauses, params = query.where()
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetch(f"SELECT count(*) AS n FROM customers {where}", params)
    return int(rows[0]["n"])
