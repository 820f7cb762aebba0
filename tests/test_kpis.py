"""The KPI cube against the warehouse's raw counts and the synthetic operator's truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_campaigns_synthetic import staged_operator

from insight.kpis import kpis


@pytest.fixture(scope="module")
def operator() -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
    warehouse, truth = staged_operator()
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con, truth
    con.close()


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    return con.execute(sql).fetchall()[0][0]


def test_cube_totals_equal_raw_counts(operator: tuple[duckdb.DuckDBPyConnection, Path]) -> None:
    con, _ = operator
    measures = ["churned_lines", "revenue", "new_customers", "active_customers",
                "campaign_contacts", "campaign_responses"]
    cube = kpis(con, measures, ["month", "region"], grouping="cube")
    total = cube[cube["month"].isna() & cube["region"].isna()].iloc[0]
    months = "(SELECT min(month) FROM usage_monthly) AND (SELECT max(month) FROM usage_monthly)"
    assert total["churned_lines"] == _one(con, "SELECT count(*) FROM churn_events WHERE "
                                               f"date_trunc('month', churn_date) BETWEEN {months}")
    assert total["revenue"] == pytest.approx(_one(
        con, f"SELECT sum(total_amount) FROM bills WHERE period BETWEEN {months}"))
    assert total["new_customers"] == _one(
        con, "SELECT count(*) FROM customers WHERE date_trunc('month', join_date) BETWEEN "
             f"{months} AND customer_id IN (SELECT customer_id FROM subscriptions)")
    assert total["campaign_contacts"] == _one(
        con, "SELECT count(*) FROM campaign_contacts WHERE contact_group = 'treatment' AND "
             f"date_trunc('month', contacted_at) BETWEEN {months}")
    assert total["campaign_responses"] == _one(
        con, "SELECT count(*) FROM campaign_contacts k JOIN campaign_responses r USING "
             "(contact_id) WHERE r.response = 'accepted' AND k.contact_group = 'treatment' "
             f"AND date_trunc('month', k.contacted_at) BETWEEN {months}")
    # active customers of a month: a line active on some day of it, and not gone before
    by_month = cube[cube["month"].notna() & cube["region"].isna()].set_index("month")
    for month in by_month.index:
        raw = con.execute("""
            SELECT count(DISTINCT s.customer_id) FROM subscriptions s
            LEFT JOIN (SELECT subscription_id, min(churn_date) AS d FROM churn_events
                       GROUP BY 1) e USING (subscription_id)
            WHERE s.start_date < $m + INTERVAL 1 MONTH
              AND coalesce(s.end_date, DATE '9999-12-31') >= $m
              AND coalesce(e.d, DATE '9999-12-31') >= $m""", {"m": month}).fetchall()[0][0]
        assert by_month.loc[month, "active_customers"] == raw
    # every cell adds up: regions of a month sum to the month's subtotal
    cells = cube[cube["month"].notna() & cube["region"].notna()]
    summed = cells.groupby("month")[measures].sum()
    pd.testing.assert_frame_equal(summed, by_month[measures], check_names=False,
                                  check_dtype=False)
    # rollup's grand total is the cube's, and a slice is the cell it selects
    rollup = kpis(con, ["revenue"], ["region", "month"])
    assert rollup.iloc[-1]["revenue"] == pytest.approx(total["revenue"])
    assert list(rollup.iloc[-1]["rolled_up"]) == ["region", "month"]
    region = cells["region"].iloc[0]
    month = cells["month"].iloc[0]
    sliced = kpis(con, ["revenue"], [], {"region": region, "month": str(month)[:7]})
    assert sliced["revenue"].iloc[0] == pytest.approx(cells.iloc[0]["revenue"])


def test_churn_rate_per_month_equals_the_ground_truth(
        operator: tuple[duckdb.DuckDBPyConnection, Path]) -> None:
    con, truth = operator
    causes = pd.read_csv(truth / "churn_causes.csv", parse_dates=["churn_date"])
    causes["month"] = causes["churn_date"].dt.to_period("M").dt.to_timestamp().dt.date
    per_month = kpis(con, ["churned_lines", "lines_at_start", "churn_rate", "retention"],
                     ["month"], grouping="plain").set_index("month")
    con.register("truth", causes)
    for month, row in per_month.iterrows():
        churned = int((causes["month"] == month).sum())
        # lines on the month's first day, by the truth's departures
        at_start = con.execute("""
            SELECT count(*) FROM subscriptions s
            LEFT JOIN truth t ON t.subscription_id = s.subscription_id
            WHERE s.start_date < $m AND coalesce(t.churn_date::DATE, DATE '9999-12-31') >= $m
              AND coalesce(s.end_date, DATE '9999-12-31') >= $m""",
                               {"m": month}).fetchall()[0][0]
        assert row["churned_lines"] == churned, month
        assert row["lines_at_start"] == at_start, month
        assert row["churn_rate"] == pytest.approx(churned / at_start), month
        assert row["retention"] == pytest.approx(1 - churned / at_start)
    con.unregister("truth")
    assert len(per_month) == 4


def test_names_are_whitelisted_and_values_are_parameters(
        operator: tuple[duckdb.DuckDBPyConnection, Path]) -> None:
    con, _ = operator
    with pytest.raises(ValueError, match="unknown measure"):
        kpis(con, ["revenue; DROP TABLE bills"], ["month"])
    with pytest.raises(ValueError, match="unknown dimension"):
        kpis(con, ["revenue"], ["month", "1=1"])
    with pytest.raises(ValueError, match="unknown filter dimension"):
        kpis(con, ["revenue"], [], {"region OR 1=1 --": "x"})
    out = kpis(con, ["active_customers"], [], {"region": "x' OR '1'='1"})
    assert pd.isna(out["active_customers"].iloc[0])


def test_ladder_moves_and_tier_dimension(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("""CREATE TABLE customers AS SELECT 'C' || i AS customer_id, 'R' AS region,
        DATE '2020-01-01' AS join_date FROM range(10) t(i)""")
    con.execute("""CREATE TABLE subscriptions AS SELECT 'S' || i AS subscription_id,
        'C' || i AS customer_id, '+86138' || i AS msisdn, 'P' AS product_id,
        DATE '2020-01-01' AS start_date, NULL::DATE AS end_date FROM range(10) t(i)""")
    # January: revenue rises with i; February: reversed
    con.execute("""CREATE TABLE bills AS
        SELECT 'S' || i AS subscription_id, DATE '2026-01-01' AS period,
               10.0 * (i + 1) AS total_amount FROM range(10) t(i)
        UNION ALL SELECT 'S' || i, DATE '2026-02-01', 10.0 * (10 - i) FROM range(10) t(i)""")
    con.execute("""CREATE TABLE customer_value AS SELECT DATE '2026-02-01' AS cutoff,
        'C' || i AS customer_id, CASE WHEN i < 5 THEN 'gold' ELSE 'basic' END AS value_tier
        FROM range(10) t(i)""")
    out = kpis(con, ["upgraded", "downgraded", "active_customers", "revenue"],
               ["month", "value_tier"], grouping="plain")
    feb = out[out["month"] == date(2026, 2, 1)].set_index("value_tier")
    jan = out[out["month"] == date(2026, 1, 1)].set_index("value_tier")
    assert jan["upgraded"].sum() == 0 and jan["downgraded"].sum() == 0
    # rungs of two: Jan C9 C8 | C7 C6 | C5 C4 | C3 C2 | C1 C0, Feb the reverse, so C0-C3
    # climb, C4 and C5 stay on rung 3, C6-C9 fall
    assert feb.loc["gold", "upgraded"] == 4 and feb.loc["gold", "downgraded"] == 0
    assert feb.loc["basic", "downgraded"] == 4 and feb.loc["basic", "upgraded"] == 0
    assert feb["active_customers"].sum() == 10
    assert jan.loc["gold", "revenue"] == pytest.approx(10 + 20 + 30 + 40 + 50)
