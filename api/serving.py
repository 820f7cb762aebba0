"""The serving copy of a snapshot: per-customer rows, sorted by key, built once per snapshot.

The staged warehouse is laid out for ingest and models (file order, whole-table
scans); a front-line lookup of one customer must not scan millions of call edges.
When the API first opens a snapshot it writes ``<id>.v<N>.duckdb`` in the data directory's
serving folder (``SnapshotStore.serving_dir``):
copies of the per-customer tables sorted by ``customer_id`` (so DuckDB's min/max
zone maps skip all but a row group or two for a key range) and the per-customer
aggregates the schema shows — bills summary, last contact per channel, every
contact ranked by tie strength (``graph.warehouse``'s weights). The warehouse
stays attached as ``w`` for everything else. Built under a file lock (several
workers, one build), to a temporary name then renamed; files of snapshots no longer
published are removed. Nothing here is a model or a rule: only layout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb

from graph.snapshot import Snapshot, SnapshotStore
from graph.warehouse import latest_cutoff_sql, sql_string, tie_strength_sql

log = logging.getLogger("callcircle.api.serving")

LAYOUT_VERSION = 9
#: Rows per row group of the serving copy (DuckDB's default: 122,880). Zone maps skip
#: whole row groups, so a page or a batch of 50 neighbouring keys reads 8,192 rows
#: instead of a default group; a whole-table scan costs about the same.
ROW_GROUP_SIZE = 8192


#: Contacts kept on a customer's card; a longer page reads the contacts table.
CARD_CONTACTS = 100
CARD_PARTS = frozenset({"customers", "subscriptions", "channel_history", "bills_summary",
                        "contacts"})
#: A contact on a card: an array of these columns of ``contacts`` (most of a card is
#: contacts; keys repeated in each would triple its size).
CARD_CONTACT_KEYS = ("other", "calls_out", "calls_in", "seconds", "sms", "night_calls",
                     "last_contact", "weight", "on_net", "operator", "other_customer_id",
                     "rank")
#: The customer-360 card: lines, channels, bills and the first contacts of a customer as
#: one JSON text, so a customer screen costs one indexed lookup of one short string
#: instead of five queries (DuckDB fetches a row of nested lists far more slowly, and
#: turns it into Python objects more slowly than ``json.loads``). See :func:`read_card`.
CARD_SQL = f"""
CREATE TABLE customer_card AS
WITH lines AS (
    SELECT customer_id, list(s ORDER BY status <> 'active', start_date, subscription_id)
           AS subscriptions
    FROM subscriptions s GROUP BY customer_id
),
channels AS (
    SELECT customer_id, list(h ORDER BY last_contact_at DESC, channel) AS channel_history
    FROM channel_history h GROUP BY customer_id
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY weight DESC, other)
              AS rank,
           count(*) OVER (PARTITION BY customer_id) AS total
    FROM contacts
),
firsts AS (
    SELECT customer_id, list(json_array({", ".join(CARD_CONTACT_KEYS)}) ORDER BY rank)
           AS contacts, any_value(total) AS contacts_total
    FROM ranked r WHERE rank <= {CARD_CONTACTS} GROUP BY customer_id
),
cards AS (
    SELECT c.*, coalesce(lines.subscriptions, []) AS subscriptions,
           coalesce(channels.channel_history, []) AS channel_history,
           CASE WHEN b.customer_id IS NULL THEN NULL ELSE b END AS bills,
           coalesce(firsts.contacts, []) AS contacts,
           coalesce(firsts.contacts_total, 0) AS contacts_total
    FROM customers c
    LEFT JOIN lines USING (customer_id)
    LEFT JOIN channels USING (customer_id)
    LEFT JOIN bills_summary b ON b.customer_id = c.customer_id
    LEFT JOIN firsts ON firsts.customer_id = c.customer_id
)
SELECT customer_id, CAST(to_json(cards) AS VARCHAR) AS card FROM cards ORDER BY customer_id
"""

#: Card fields JSON carries as ISO text, and the Python types the warehouse holds them as.
_CARD_TIMES: dict[str, Callable[[str], Any]] = {
    "birth_date": dt.date.fromisoformat, "join_date": dt.date.fromisoformat,
    "start_date": dt.date.fromisoformat, "end_date": dt.date.fromisoformat,
    "first_period": dt.date.fromisoformat, "last_period": dt.date.fromisoformat,
    "last_contact_at": dt.datetime.fromisoformat, "last_contact": dt.datetime.fromisoformat,
}


def _card_times(part: dict[str, Any]) -> dict[str, Any]:
    for key, parse in _CARD_TIMES.items():
        value = part.get(key)
        if isinstance(value, str):
            part[key] = parse(value)
    return part


def read_card(text: str) -> dict[str, Any]:
    """A card (``CARD_SQL``) as the rows the separate tables would give: the customer's
    columns, with ``subscriptions``, ``channel_history``, ``bills`` and ``contacts`` (each
    contact with its ``rank`` and the customer's ``total``, as the contacts query gives)."""
    card = json.loads(text, object_hook=_card_times)
    customer_id, total = card["customer_id"], card.pop("contacts_total")
    card["contacts"] = [
        _card_times({**dict(zip(CARD_CONTACT_KEYS, values, strict=True)),
                     "customer_id": customer_id, "total": total})
        for values in card["contacts"]]
    return card


#: One row per key: an ART index makes ``key = ?`` a lookup rather than a row-group scan
#: (tables with many rows per key — contacts, lines, channels — are read in key order).
UNIQUE_KEYS = (("customers", "customer_id"), ("subscriptions_by_id", "subscription_id"),
               ("line_holders", "msisdn"), ("bills_summary", "customer_id"),
               ("value_latest", "customer_id"), ("circles_latest", "circle_id"),
               ("customer_card", "customer_id"))


def serving_path(store: SnapshotStore, snapshot_id: str) -> Path:
    return store.serving_dir / f"{snapshot_id}.v{LAYOUT_VERSION}.duckdb"


def ensure_serving(snapshot: Snapshot, store: SnapshotStore) -> Path:
    """The serving file of ``snapshot``, built now if no worker has built it yet."""
    path = serving_path(store, snapshot.id)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            started = time.perf_counter()
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            _build(snapshot.warehouse_path, tmp)
            os.replace(tmp, path)
            log.info("built the serving copy of %s in %.1f s", snapshot.id,
                     time.perf_counter() - started)
    with contextlib.suppress(FileNotFoundError):
        path.with_suffix(".lock").unlink()
    return path


def remove_stale(store: SnapshotStore, keep_ids: Iterable[str]) -> None:
    """Drop serving files of snapshots no longer published, and of older layouts."""
    folder = store.serving_dir
    if not folder.is_dir():
        return
    keep = {serving_path(store, snapshot_id).name for snapshot_id in keep_ids}
    for path in folder.glob("*.duckdb"):
        if path.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                log.info("removed stale serving copy %s", path.name)


def _build(warehouse: Path, out: Path) -> None:
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH {sql_string(str(out))} AS serving "
                    f"(ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        con.execute("USE serving")
        con.execute(f"ATTACH {sql_string(str(warehouse))} AS w (READ_ONLY)")
        have = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'w'"
        ).fetchall()}
        for statement in _statements(have):
            con.execute(statement)
        built = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = 'serving'").fetchall()}
        if built >= CARD_PARTS:
            con.execute(CARD_SQL)
            built.add("customer_card")
        for table, column in UNIQUE_KEYS:
            if table in built:
                con.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
        con.execute("CHECKPOINT serving")
    finally:
        con.close()


def _statements(have: set[str]) -> list[str]:
    out = [
        """CREATE TABLE customers AS SELECT customer_id, customer_type, name, gender,
               birth_date, id_number, address, region, join_date,
               coalesce(do_not_contact, false) AS do_not_contact
           FROM w.customers ORDER BY customer_id""",
        """CREATE TABLE subscriptions AS SELECT subscription_id, customer_id, msisdn,
               product_id, status, start_date, end_date
           FROM w.subscriptions
           ORDER BY customer_id, status <> 'active', start_date, subscription_id""",
        """CREATE TABLE subscriptions_by_id AS SELECT * FROM subscriptions
           ORDER BY subscription_id""",
        # the holder of a number: the line not terminated first, else the latest
        """CREATE TABLE line_holders AS SELECT msisdn,
               arg_max(customer_id, (status <> 'terminated', start_date)) AS customer_id
           FROM w.subscriptions GROUP BY msisdn ORDER BY msisdn""",
    ]
    if "products" in have:
        out.append("CREATE TABLE products AS SELECT * FROM w.products ORDER BY product_id")
    if "bills" in have:
        out.append("""
        CREATE TABLE bills_summary AS
        WITH b AS (
            SELECT s.customer_id, b.subscription_id, b.period, b.total_amount,
                   coalesce(b.arrears, 0) AS arrears
            FROM w.bills b JOIN w.subscriptions s USING (subscription_id)
        ),
        monthly AS (SELECT customer_id, period, sum(total_amount) AS total FROM b GROUP BY ALL),
        months AS (
            SELECT customer_id, count(*) AS months, CAST(min(period) AS DATE) AS first_period,
                   CAST(max(period) AS DATE) AS last_period,
                   arg_max(total, period) AS last_month_total,
                   avg(total) AS average_monthly_total, sum(total) AS total_billed
            FROM monthly GROUP BY customer_id
        ),
        lines AS (
            SELECT customer_id, sum(latest) AS arrears, sum(bills) AS bills
            FROM (SELECT customer_id, subscription_id, arg_max(arrears, period) AS latest,
                         count(*) AS bills
                  FROM b GROUP BY ALL)
            GROUP BY customer_id
        )
        SELECT * FROM months JOIN lines USING (customer_id) ORDER BY customer_id""")
    if "interactions" in have:
        out.append("""
        CREATE TABLE channel_history AS
        SELECT customer_id, channel, count(*) AS contacts,
               max(occurred_at) AS last_contact_at,
               arg_max(category, occurred_at) AS last_category,
               arg_max(outcome, occurred_at) AS last_outcome
        FROM w.interactions GROUP BY customer_id, channel
        ORDER BY customer_id, last_contact_at DESC, channel""")
    if "call_edges" in have:
        numbers = ("LEFT JOIN w.numbers n ON n.msisdn = a.other" if "numbers" in have else
                   "LEFT JOIN (SELECT NULL::VARCHAR AS msisdn, NULL::BOOLEAN AS on_net, "
                   "NULL::VARCHAR AS operator, NULL::VARCHAR AS customer_id) n ON false")
        out.append(f"""
        CREATE TABLE contacts AS
        WITH pairs AS (
            SELECT a, b, sum(calls_ab) AS calls_ab, sum(calls_ba) AS calls_ba,
                   sum(seconds_ab + seconds_ba) AS seconds, sum(sms_ab + sms_ba) AS sms,
                   sum(night_calls) AS night_calls, max(last_contact) AS last_contact
            FROM w.call_edges GROUP BY a, b
        ),
        sides AS (
            SELECT a AS msisdn, b AS other, calls_ab AS calls_out, calls_ba AS calls_in,
                   seconds, sms, night_calls, last_contact FROM pairs
            UNION ALL
            SELECT b, a, calls_ba, calls_ab, seconds, sms, night_calls, last_contact FROM pairs
        ),
        own AS (SELECT DISTINCT customer_id, msisdn FROM w.subscriptions),
        agg AS (
            SELECT o.customer_id, s.other, sum(calls_out) AS calls_out,
                   sum(calls_in) AS calls_in, sum(seconds) AS seconds, sum(sms) AS sms,
                   sum(night_calls) AS night_calls, max(last_contact) AS last_contact
            FROM sides s JOIN own o USING (msisdn)
            GROUP BY o.customer_id, s.other
        )
        SELECT a.*, {tie_strength_sql("calls_out + calls_in", "sms", "seconds")} AS weight,
               n.on_net, n.operator, n.customer_id AS other_customer_id
        FROM agg a ANTI JOIN own o2 ON o2.customer_id = a.customer_id AND o2.msisdn = a.other
        {numbers}
        ORDER BY a.customer_id""")
    out.extend(_insight_statements(have))
    return out


def _latest(table: str) -> str:
    return f"FROM w.{table} WHERE cutoff = {latest_cutoff_sql(f'w.{table}')}"


def _insight_statements(have: set[str]) -> list[str]:
    """The latest cut-off of the graph and insight stages' tables, sorted for lookups."""
    out = []
    if "churn_scores" in have:
        out.append(f"""CREATE TABLE churn_latest AS SELECT * {_latest("churn_scores")}
                       ORDER BY customer_id, churn_risk DESC""")
        out.append("""CREATE TABLE churn_by_rank AS SELECT * FROM churn_latest
                      ORDER BY risk_rank""")
    if "customer_value" in have:
        out.append(f"""CREATE TABLE value_latest AS SELECT * {_latest("customer_value")}
                       ORDER BY customer_id""")
    if "segments" in have:
        out.append(f"""CREATE TABLE segments_latest AS
                       SELECT * REPLACE (CAST(segment_id AS VARCHAR) AS segment_id)
                       {_latest("segments")} ORDER BY segment_id""")
    if "segment_members" in have:
        out.append(f"""CREATE TABLE segment_members_latest AS
                       SELECT cutoff, subscription_id, customer_id, msisdn,
                              CAST(segment_id AS VARCHAR) AS segment_id
                       {_latest("segment_members")} ORDER BY customer_id, subscription_id""")
    if "circles" in have:
        out.append(f"""CREATE TABLE circles_latest AS
                       SELECT * REPLACE (CAST(circle_id AS VARCHAR) AS circle_id)
                       {_latest("circles")} ORDER BY circle_id""")
    if "circle_members" in have:
        holder = ("LEFT JOIN w.numbers n USING (msisdn)" if "numbers" in have else
                  "LEFT JOIN (SELECT NULL::VARCHAR AS msisdn, NULL::VARCHAR AS customer_id) n "
                  "USING (msisdn)")
        out.append(f"""CREATE TABLE circle_members_latest AS
                       SELECT m.cutoff, CAST(m.circle_id AS VARCHAR) AS circle_id, m.msisdn,
                              m.on_net, m.pagerank, m.is_influencer, n.customer_id
                       FROM (SELECT * {_latest("circle_members")}) m {holder}
                       ORDER BY n.customer_id, m.pagerank DESC""")
        out.append("""CREATE TABLE circle_members_by_circle AS
                      SELECT * FROM circle_members_latest
                      ORDER BY circle_id, pagerank DESC, msisdn""")
    if "graph_features" in have:
        out.append(f"""CREATE TABLE graph_features_latest AS
                       SELECT * {_latest("graph_features")} ORDER BY customer_id, msisdn""")
    if "tag_assignments" in have:
        out.append(f"""CREATE TABLE tags_latest AS
                       SELECT customer_id, tag_id, rule_id, period
                       {_latest("tag_assignments")} ORDER BY customer_id, tag_id""")
    if "prospects" in have:
        out.append(f"""CREATE TABLE prospects_latest AS
                       SELECT *, row_number() OVER (ORDER BY score DESC, msisdn) AS rank
                       {_latest("prospects")} ORDER BY rank""")
    if "prospect_referrers" in have:
        holder = ("LEFT JOIN w.numbers n ON n.msisdn = r.referrer_msisdn" if "numbers" in have
                  else "LEFT JOIN (SELECT NULL::VARCHAR AS customer_id) n ON false")
        out.append(f"""CREATE TABLE prospect_referrers_latest AS
                       SELECT r.*, n.customer_id
                       FROM (SELECT * {_latest("prospect_referrers")}) r {holder}
                       ORDER BY r.msisdn, r.weight DESC""")
    return out
