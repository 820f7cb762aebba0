"""Value: current value and margin, CLV, tiers, Pareto, network value on a hand-made graph."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingest.load import ensure_tables
from insight.value import (
    CostModel,
    current_value,
    customer_value,
    follow_rate,
    lifetime_value,
    network_value,
    pareto,
    pareto_curve,
    prepaid_history,
    revenue_holdout,
    value_tiers,
)


def test_lifetime_value_matches_the_sum() -> None:
    margin, risk, horizon, d = np.array([50.0, 50.0, 10.0]), np.array([0.02, 0.2, 0.0]), 24, 0.1
    monthly = (1 + d) ** (1 / 12) - 1
    expected = [sum(m * (1 - r) ** k / (1 + monthly) ** k for k in range(1, horizon + 1))
                for m, r in zip(margin, risk, strict=True)]
    got = lifetime_value(margin, risk, horizon_months=horizon, annual_discount=d)
    assert got == pytest.approx(expected)
    assert got[0] > got[1]  # same margin, higher risk, lower value
    assert lifetime_value([10.0], [0.0], horizon_months=12, annual_discount=0.0)[0] == 120


def test_value_tiers_and_pareto() -> None:
    values = np.arange(1, 101, dtype=float)
    tiers = value_tiers(values)
    assert (tiers[values > 80] == "platinum").all() and (tiers[values <= 20] == "basic").all()
    assert pd.Series(tiers).value_counts().eq(20).all()
    assert value_tiers([3.0, 1.0, 2.0], n_tiers=3, labels=["a", "b", "c"]).tolist() == \
        ["a", "c", "b"]
    # Top 20 of 1..100 sum to 1810 of 5050.
    assert pareto(values) == pytest.approx(1810 / 5050)
    curve = pareto_curve(values)
    assert curve["value"].iloc[0] == 0 and curve["value"].iloc[-1] == pytest.approx(1)
    assert curve.loc[curve["subscribers"].round(2) == 0.2, "value"].iloc[0] == \
        pytest.approx(1810 / 5050)


def test_network_value_on_a_hand_made_graph() -> None:
    # A is the hub. D is off-net: it adds to A's tie strength but is worth nothing to us.
    edges = pd.DataFrame({"a": ["A", "B", "A", "A"], "b": ["B", "C", "C", "D"],
                          "weight": [3.0, 1.0, 2.0, 5.0]})
    value = pd.Series({"A": 100.0, "B": 50.0, "C": 80.0})
    nv = network_value(edges, value, follow=0.5)
    # B gives 3/4 of its ties to A, C gives 2/3: NV(A) = .75·.5·50 + 2/3·.5·80
    assert nv["A"] == pytest.approx(0.75 * 0.5 * 50 + 2 / 3 * 0.5 * 80)
    # A gives 3/10 of its ties to B (D takes half), C gives 1/3 to B.
    assert nv["B"] == pytest.approx(0.3 * 0.5 * 100 + 1 / 3 * 0.5 * 80)
    assert list(nv.index) == ["A", "B", "C"]
    # Restricted to circles: only A-B share a circle.
    circles = pd.Series({"A": 1, "B": 1, "C": 2})
    nv_circle = network_value(edges, value, follow=0.5, circles=circles)
    assert nv_circle.to_dict() == pytest.approx({"A": 0.75 * 0.5 * 50, "B": 0.3 * 0.5 * 100,
                                                 "C": 0.0})
    # Per-node follow probability: nobody follows, nothing at risk.
    assert network_value(edges, value, follow=pd.Series(0.0, index=value.index)).sum() == 0


def test_follow_rate_is_excess_churn() -> None:
    exposed = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    churned = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    assert follow_rate(exposed, churned) == pytest.approx(0.5 - 1 / 6)
    assert follow_rate(~exposed, churned) == 0.0


@pytest.fixture()
def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_tables(con)
    con.execute("""INSERT INTO products BY NAME SELECT * FROM (VALUES
        ('P1', 'prepaid', 'plan', 'prepaid', 20.0), ('P2', 'postpaid', 'plan', 'postpaid', 100.0))
        t(product_id, name, product_type, payment_type, monthly_fee)""")
    con.execute("""INSERT INTO subscriptions BY NAME SELECT * FROM (VALUES
        ('S1', 'C1', '+8613800000001', 'P2', DATE '2025-01-01'),
        ('S2', 'C1', '+8613800000002', 'P1', DATE '2025-10-01'),
        ('S3', 'C2', '+8613800000003', 'P2', DATE '2025-10-01'))
        t(subscription_id, customer_id, msisdn, product_id, start_date)""")
    con.execute("""INSERT INTO bills BY NAME SELECT * FROM (VALUES
        ('B1', 'S1', DATE '2026-02-01', DATE '2026-03-03', 100.0),
        ('B2', 'S1', DATE '2026-03-01', DATE '2026-03-31', 140.0),
        ('B3', 'S3', DATE '2026-03-01', DATE '2026-03-31', 60.0),
        ('B4', 'S1', DATE '2026-04-01', DATE '2026-05-03', 130.0),
        ('B5', 'S3', DATE '2026-04-01', DATE '2026-05-03', 50.0))
        t(bill_id, subscription_id, period, issue_date, total_amount)""")
    con.execute("""INSERT INTO payments BY NAME SELECT * FROM (VALUES
        ('Y1', 'S2', NULL, TIMESTAMP '2026-01-05 10:00', 30.0, 'wechat'),
        ('Y2', 'S2', NULL, TIMESTAMP '2026-02-05 10:00', 30.0, 'wechat'),
        ('Y3', 'S2', NULL, TIMESTAMP '2026-03-05 10:00', 30.0, 'wechat'),
        ('Y4', 'S2', NULL, TIMESTAMP '2026-03-05 18:00', 10.0, 'wechat'))
        t(payment_id, subscription_id, bill_id, paid_at, amount, method)""")
    return con


def test_current_value_and_customer_rollup(warehouse: duckdb.DuckDBPyConnection) -> None:
    cost = CostModel(revenue_share=0.1, per_line=5.0, per_minute=0, per_sms=0, per_mb=0)
    value = current_value(warehouse, date(2026, 4, 1), cost_model=cost).set_index(
        "subscription_id")
    assert value.loc["S1", "monthly_revenue"] == pytest.approx(120)
    assert value.loc["S1", "arpu_trend"] == pytest.approx(0.4)
    assert value.loc["S1", "monthly_margin"] == pytest.approx(120 - 12 - 5)
    # No bills for the prepaid line: its top-ups over three months (100) per month.
    assert value.loc["S2", "monthly_revenue"] == pytest.approx(100 / 3)
    assert value.loc["S1", "tenure_months"] == 15
    customers = customer_value(value.reset_index()).set_index("customer_id")
    assert customers.loc["C1", "lines"] == 2
    assert customers.loc["C1", "monthly_revenue"] == pytest.approx(120 + 100 / 3)


def test_prepaid_history(warehouse: duckdb.DuckDBPyConnection) -> None:
    history = prepaid_history(warehouse, date(2026, 4, 1)).set_index("subscription_id")
    # Three top-up days (two on 5 March count as one of 40), first on 5 January.
    assert history.loc["S2", "frequency"] == 2
    assert history.loc["S2", "recency"] == 59 and history.loc["S2", "T"] == 86
    assert history.loc["S2", "monetary_value"] == pytest.approx(35)


def test_revenue_holdout_per_tier(warehouse: duckdb.DuckDBPyConnection) -> None:
    scored = pd.DataFrame({"subscription_id": ["S1", "S3"], "value_tier": ["gold", "basic"],
                           "monthly_revenue": [120.0, 60.0], "churn_risk": [0.0, 0.5]})
    table = revenue_holdout(warehouse, date(2026, 4, 1), scored, months=1).set_index(
        "value_tier")
    assert table.loc["gold", "predicted"] == pytest.approx(120)
    assert table.loc["gold", "realised"] == pytest.approx(130)
    assert table.loc["basic", "predicted"] == pytest.approx(30)
    assert table.loc["basic", "ratio"] == pytest.approx(50 / 30)
