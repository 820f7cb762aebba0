"""A tiny operator in the source contract, written by hand for ingest tests.

``write_source`` writes one CSV per entity; tests change single rows or lines to
make bad input, so every expectation (line numbers included) stays readable.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb

from ingest.contract import ENTITIES

ROWS: dict[str, list[dict[str, object]]] = {
    "customers": [
        {"customer_id": "C1", "customer_type": "individual", "name": "张伟", "gender": "M",
         "birth_date": "1980-05-01", "region": "Beijing", "join_date": "2020-01-15"},
        {"customer_id": "C2", "customer_type": "individual", "name": "Li Na", "gender": "F",
         "region": "Shanghai", "join_date": "2021-03-01", "do_not_contact": "true"},
        {"customer_id": "C3", "customer_type": "enterprise", "name": "Acme Ltd",
         "region": "Beijing", "join_date": "2019-07-01"},
    ],
    "products": [
        {"product_id": "P1", "name": "Prepaid 30", "product_type": "plan",
         "payment_type": "prepaid", "monthly_fee": "30", "included_minutes": "100"},
        {"product_id": "P2", "name": "Postpaid 99", "product_type": "plan",
         "payment_type": "postpaid", "monthly_fee": "99.5", "included_minutes": "1000",
         "included_data_mb": "20480"},
    ],
    "subscriptions": [
        {"subscription_id": "S1", "customer_id": "C1", "msisdn": "13800138001",
         "product_id": "P1", "status": "active", "start_date": "2020-01-15"},
        {"subscription_id": "S2", "customer_id": "C2", "msisdn": "+86 138 0013 8002",
         "product_id": "P2", "status": "active", "start_date": "2021-03-01"},
        {"subscription_id": "S3", "customer_id": "C3", "msisdn": "+8613800138003",
         "product_id": "P2", "status": "active", "start_date": "2019-07-01"},
        {"subscription_id": "S4", "customer_id": "C3", "msisdn": "13800138004",
         "product_id": "P2", "status": "terminated", "start_date": "2019-07-01",
         "end_date": "2025-12-31"},
    ],
    "cdrs-2026-01": [
        {"record_id": "R1", "caller": "13800138001", "callee": "+8613800138002",
         "start_time": "2026-01-03 09:15:00", "duration_s": "120", "event_type": "voice",
         "roaming": "false"},
        {"record_id": "R2", "caller": "13800138002", "callee": "13800138001",
         "start_time": "2026-01-03 23:10:00", "duration_s": "60", "event_type": "voice"},
        {"record_id": "R3", "caller": "13800138001", "callee": "13900139000",
         "start_time": "2026-01-04 10:00:00", "duration_s": "0", "event_type": "sms"},
        {"record_id": "R4", "caller": "13700137000", "callee": "13800138003",
         "start_time": "2026-01-05 12:00:00", "duration_s": "300", "event_type": "voice",
         "roaming": "true"},
    ],
    "data_usage-2026-01": [
        {"msisdn": "13800138001", "usage_date": "2026-01-03", "megabytes": "250.5"},
        {"msisdn": "13800138002", "usage_date": "2026-01-04", "megabytes": "10",
         "roaming": "false"},
    ],
    "bills-2026-01": [
        {"bill_id": "B1", "subscription_id": "S2", "period": "2026-01",
         "issue_date": "2026-02-01", "due_date": "2026-02-20", "recurring_charge": "99.5",
         "voice_charge": "0", "sms_charge": "0", "data_charge": "5", "vas_charge": "0",
         "roaming_charge": "0", "total_amount": "104.5", "arrears": "0"},
    ],
    "payments-2026-01": [
        {"payment_id": "Y1", "subscription_id": "S2", "bill_id": "B1",
         "paid_at": "2026-02-05 10:00:00", "amount": "104.5", "method": "wechat"},
        {"payment_id": "Y2", "subscription_id": "S1", "paid_at": "2026-01-10 08:00:00",
         "amount": "50", "method": "alipay"},
    ],
    "interactions-2026-01": [
        {"interaction_id": "I1", "customer_id": "C1", "msisdn": "13800138001",
         "channel": "call_centre", "occurred_at": "2026-01-07 14:00:00",
         "category": "complaint", "outcome": "resolved"},
    ],
    "campaigns": [
        {"campaign_id": "K1", "name": "Keep", "objective": "retention", "offer": "10% off",
         "channels": "sms;app", "start_date": "2026-01-01", "end_date": "2026-01-31",
         "cost_per_contact": "0.5", "control_share": "0.1"},
    ],
    "campaign_contacts": [
        {"contact_id": "T1", "campaign_id": "K1", "customer_id": "C1", "msisdn": "13800138001",
         "channel": "sms", "contacted_at": "2026-01-02 09:00:00", "contact_group": "treatment"},
        {"contact_id": "T2", "campaign_id": "K1", "customer_id": "C2",
         "contact_group": "control"},
    ],
    "campaign_responses": [
        {"response_id": "A1", "contact_id": "T1", "responded_at": "2026-01-03 09:00:00",
         "response": "accepted", "revenue": "20"},
    ],
    "churn_events-2026-01": [
        {"event_id": "E1", "subscription_id": "S4", "churn_date": "2025-12-31",
         "churn_type": "port_out", "recipient_operator": "China Unicom"},
    ],
}


def entity_of(stem: str) -> str:
    return stem.split("-")[0]


def csv_text(stem: str, rows: list[dict[str, object]]) -> str:
    """Rows as contract CSV text (header + one line per row)."""
    columns = ENTITIES[entity_of(stem)].column_names
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


def write_source(folder: Path, *, only: tuple[str, ...] | None = None,
                 rows: dict[str, list[dict[str, object]]] | None = None) -> Path:
    """Write the fixture (or ``only`` some files, or other ``rows``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {**ROWS, **(rows or {})}
    for stem, entity_rows in data.items():
        if only is not None and stem not in only:
            continue
        (folder / f"{stem}.csv").write_text(csv_text(stem, entity_rows), encoding="utf-8")
    return folder


def table(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()
