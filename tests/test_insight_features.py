"""The churn feature table on a hand-made warehouse: every figure checked by hand."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from graph.stage import build_graph_stage
from ingest.load import ensure_tables
from insight.features import available_cutoffs, churn_features

CUTOFF = date(2026, 4, 1)
A, B, C, D = "+8613800000001", "+8613800000002", "+8613800000003", "+8613800000004"


@pytest.fixture()
def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_tables(con)
    con.execute("""INSERT INTO products BY NAME SELECT * FROM (VALUES
        ('P1', 'prepaid 20', 'plan', 'prepaid', 20.0),
        ('P2', 'postpaid 100', 'plan', 'postpaid', 100.0))
        t(product_id, name, product_type, payment_type, monthly_fee)""")
    con.execute("""INSERT INTO customers BY NAME SELECT * FROM (VALUES
        ('C1', 'individual', 'a', 'north', DATE '2020-01-01', DATE '1990-06-01'),
        ('C2', 'individual', 'b', 'north', DATE '2026-01-15', NULL),
        ('C3', 'individual', 'c', 'south', DATE '2025-06-01', NULL),
        ('C4', 'individual', 'd', 'south', DATE '2026-04-05', NULL))
        t(customer_id, customer_type, name, region, join_date, birth_date)""")
    con.execute(f"""INSERT INTO subscriptions BY NAME SELECT * FROM (VALUES
        ('S1', 'C1', '{A}', 'P2', 'active', DATE '2025-01-01', NULL),
        ('S2', 'C2', '{B}', 'P1', 'terminated', DATE '2026-01-15', DATE '2026-03-10'),
        ('S3', 'C3', '{C}', 'P2', 'terminated', DATE '2025-06-01', DATE '2026-04-20'),
        ('S4', 'C4', '{D}', 'P2', 'active', DATE '2026-04-05', NULL))
        t(subscription_id, customer_id, msisdn, product_id, status, start_date, end_date)""")
    con.execute("""INSERT INTO churn_events BY NAME SELECT * FROM (VALUES
        ('E1', 'S2', DATE '2026-03-10', 'port_out'),
        ('E2', 'S3', DATE '2026-04-20', 'termination'))
        t(event_id, subscription_id, churn_date, churn_type)""")
    con.execute("""INSERT INTO bills BY NAME SELECT * FROM (VALUES
        ('B1', 'S1', DATE '2026-01-01', DATE '2026-02-03', DATE '2026-02-20', 100.0, 0.0),
        ('B2', 'S1', DATE '2026-02-01', DATE '2026-03-03', DATE '2026-03-20', 120.0, 50.0),
        ('B3', 'S1', DATE '2026-03-01', DATE '2026-04-03', DATE '2026-04-20', 999.0, 0.0))
        t(bill_id, subscription_id, period, issue_date, due_date, total_amount, arrears)""")
    con.execute("""INSERT INTO payments BY NAME SELECT * FROM (VALUES
        ('Y1', 'S1', 'B1', TIMESTAMP '2026-02-25 10:00:00', 100.0, 'card'),
        ('Y2', 'S2', NULL, TIMESTAMP '2026-02-01 10:00:00', 30.0, 'wechat'),
        ('Y3', 'S2', NULL, TIMESTAMP '2026-03-01 10:00:00', 20.0, 'wechat'))
        t(payment_id, subscription_id, bill_id, paid_at, amount, method)""")
    con.execute("""INSERT INTO interactions BY NAME SELECT * FROM (VALUES
        ('I1', 'C1', 'call_centre', TIMESTAMP '2026-03-20 09:00:00', 'complaint', 'resolved'),
        ('I2', 'C1', 'store', TIMESTAMP '2026-02-10 09:00:00', 'complaint', 'resolved'),
        ('I3', 'C1', 'app', TIMESTAMP '2026-03-25 09:00:00', 'cancellation', 'unresolved'),
        ('I4', 'C1', 'app', TIMESTAMP '2026-04-02 09:00:00', 'complaint', 'unresolved'))
        t(interaction_id, customer_id, channel, occurred_at, category, outcome)""")
    con.execute(f"""CREATE TABLE call_edges AS SELECT * FROM (VALUES
        (DATE '2026-02-01', '{A}', '{B}', 5, 0, 600, 0, 0, 0, 0, 0),
        (DATE '2026-03-01', '{A}', '{C}', 1, 0, 60, 0, 0, 0, 0, 0))
        t(month, a, b, calls_ab, calls_ba, seconds_ab, seconds_ba, sms_ab, sms_ba,
          night_calls, roaming_calls)""")
    con.execute(f"""CREATE TABLE usage_monthly AS SELECT * FROM (VALUES
        ('{A}', DATE '2026-01-01', 10, 10, 600, 600, 0, 0, 2, 20, 0, 0, 100.0),
        ('{A}', DATE '2026-02-01', 10, 10, 600, 600, 0, 0, 2, 20, 0, 0, 100.0),
        ('{A}', DATE '2026-03-01', 4, 5, 240, 300, 1, 0, 2, 8, 1, 0, 50.0),
        ('{C}', DATE '2026-03-01', 1, 0, 60, 0, 0, 0, 1, 1, 0, 0, 0.0))
        t(msisdn, month, calls_out, calls_in, seconds_out, seconds_in, sms_out, sms_in,
          contacts, active_days, night_calls, roaming_calls, data_mb)""")
    return con


def test_rows_and_label(warehouse: duckdb.DuckDBPyConnection) -> None:
    fs = churn_features(warehouse, CUTOFF)
    frame = fs.frame.set_index("subscription_id")
    # S2 left before the cut-off, S4 started after it.
    assert list(frame.index) == ["S1", "S3"]
    assert frame.loc["S1", "churned"] == 0 and frame.loc["S3", "churned"] == 1


def test_billing_service_and_behaviour(warehouse: duckdb.DuckDBPyConnection) -> None:
    fs = churn_features(warehouse, CUTOFF)
    s1 = fs.frame.set_index("subscription_id").loc["S1"]
    # Bill B3 is issued after the cut-off and must not leak in.
    assert s1["arpu"] == pytest.approx(110) and s1["arpu_last"] == pytest.approx(120)
    assert s1["arpu_trend"] == pytest.approx(0.2) and s1["arrears"] == pytest.approx(50)
    # B1 paid 5 days late; B2 unpaid at the cut-off, 12 days past due.
    assert s1["late_payments_3m"] == 2 and s1["payment_delay_days"] == pytest.approx(8.5)
    assert s1["complaints_30d"] == 1 and s1["complaints_90d"] == 2
    assert s1["cancellation_enquiries_90d"] == 1 and s1["unresolved_90d"] == 1
    assert s1["tenure_months"] == 15 and s1["age_years"] == 36
    assert s1["payment_type"] == "postpaid" and s1["lines"] == 1
    assert s1["calls_out"] == 4 and s1["minutes_out"] == pytest.approx(4)
    # B left on 10 March: the 5 calls with B in February are not part of A's usual calls
    assert s1["calls_trend"] == pytest.approx((9 + 1) / ((40 - 5) / 2 + 1) - 1)
    assert set(fs.groups) == {"plan", "billing", "service", "behaviour"}  # no graph stage


def test_contacts_who_left_come_from_the_graph_stage(
        warehouse: duckdb.DuckDBPyConnection) -> None:
    """One definition of the pull of contacts who left: the graph stage's, read back."""
    assert "graph" not in churn_features(warehouse, CUTOFF).groups  # call edges alone: none
    build_graph_stage(warehouse, cutoff=CUTOFF)
    fs = churn_features(warehouse, CUTOFF)
    frame = fs.frame.set_index("subscription_id")
    # A talked 5 times (10 minutes) with B, who ported out on 10 March, 22 days before the
    # cut-off, and once with C, who leaves after it.
    w_b, w_c = 5 + 0.1 * 10, 1 + 0.1 * 1
    s1 = frame.loc["S1"]
    assert s1["churned_neighbours"] == 1 and s1["days_since_contact_left"] == 22
    assert s1["churned_tie_share"] == pytest.approx(w_b * 0.5 ** (22 / 90) / (w_b + w_c))
    assert frame.loc["S3", "churned_neighbours"] == 0
    assert pd.isna(frame.loc["S3", "days_since_contact_left"])  # nobody of theirs left
    assert {"churned_tie_share", "days_since_contact_left"} <= set(fs.graph_features)
    assert "churned_tie_share" not in fs.non_graph_features
    without = churn_features(warehouse, CUTOFF, with_graph=False)
    assert "graph" not in without.groups


def test_graph_features_table_is_joined(warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute(f"""CREATE TABLE graph_features AS SELECT * FROM (VALUES
        (DATE '2026-04-01', '{A}', 0.5, 3, 17, FALSE),
        (DATE '2026-03-01', '{A}', 0.9, 9, 17, FALSE))
        t(cutoff, msisdn, pagerank, degree, circle_id, churned_before_cutoff)""")
    fs = churn_features(warehouse, CUTOFF)
    s1 = fs.frame.set_index("subscription_id").loc["S1"]
    assert s1["pagerank"] == pytest.approx(0.5) and s1["degree"] == 3
    assert {"pagerank", "degree"} <= set(fs.graph_features)
    assert "circle_id" not in fs.features and "churned_before_cutoff" not in fs.features


def test_available_cutoffs(warehouse: duckdb.DuckDBPyConnection) -> None:
    # Data Jan-Mar 2026 (bills to March): with 2 months of history only 1 March qualifies.
    assert available_cutoffs(warehouse, history_months=2) == [date(2026, 3, 1)]
