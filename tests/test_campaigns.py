"""Targeting, the hashed control group, execution and evaluation on hand-made warehouses."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from insight.campaigns import (
    Campaign,
    TargetDefinition,
    evaluate,
    newcombe_interval,
    record_contacts,
    record_responses,
    store_targets,
    target,
    wald_interval,
)

START = date(2026, 5, 1)


def _customers(path: Path, n: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(f"""CREATE TABLE customers AS SELECT printf('C%05d', i) AS customer_id,
        'individual' AS customer_type, 'Beijing' AS region, DATE '2020-01-01' AS join_date,
        (i % 50 = 0) AS do_not_contact FROM range({n}) t(i)""")
    con.execute(f"""CREATE TABLE subscriptions AS SELECT printf('S%05d', i) AS subscription_id,
        printf('C%05d', i) AS customer_id, printf('+86138%08d', i) AS msisdn,
        'P1' AS product_id, 'active' AS status, DATE '2020-01-01' AS start_date,
        CASE WHEN i % 40 = 1 THEN DATE '2026-04-15' END AS end_date FROM range({n}) t(i)""")
    con.execute(f"""CREATE TABLE customer_value AS SELECT DATE '2026-05-01' AS cutoff,
        printf('C%05d', i) AS customer_id, (i % 100) / 100.0 AS churn_risk,
        100.0 + i AS clv, ['basic', 'silver', 'gold'][1 + i % 3] AS value_tier
        FROM range({n}) t(i)""")
    return con


def test_control_group_is_random_stable_and_near_the_share(tmp_path: Path) -> None:
    con = _customers(tmp_path / "w.duckdb", 6000)
    campaign = Campaign("K1", "keep", channels=["sms"], control_share=0.2, seed=42,
                        start_date=START)
    first = target(con, campaign).set_index("customer_id")["contact_group"]
    again = target(con, campaign).set_index("customer_id")["contact_group"]
    assert first.equals(again)  # stable for a seed
    n = len(first)
    control = (first == "control").to_numpy()
    share = control.mean()
    assert abs(share - 0.2) < 3 * np.sqrt(0.2 * 0.8 / n)
    # random: no trend along the customer order or the churn risk the list is ranked by
    order = np.arange(n)
    assert abs(np.corrcoef(order, control)[0, 1]) < 4 / np.sqrt(n)
    ranked = target(con, campaign)
    deciles = np.array_split(ranked["contact_group"].eq("control").to_numpy(), 10)
    assert all(abs(d.mean() - 0.2) < 4 * np.sqrt(0.16 / len(d)) for d in deciles)
    # another seed draws another group; another campaign too
    other = target(con, Campaign("K1", "keep", control_share=0.2, seed=43,
                                 start_date=START)).set_index("customer_id")["contact_group"]
    agreement = (other.loc[first.index] == first).mean()
    assert 0.6 < agreement < 0.75  # independent draws agree on 0.8² + 0.2² = 68 %
    # a larger share keeps every earlier control in control (the draw is per customer)
    wider = target(con, Campaign("K1", "keep", control_share=0.3, seed=42,
                                 start_date=START)).set_index("customer_id")["contact_group"]
    assert (wider.loc[first.index[control]] == "control").all()


def test_target_definition_and_exclusions(tmp_path: Path) -> None:
    con = _customers(tmp_path / "w.duckdb", 400)
    con.execute("""CREATE TABLE campaign_contacts AS SELECT 'OLD-' || customer_id AS contact_id,
        'OLD' AS campaign_id, customer_id, NULL AS msisdn, 'sms' AS channel,
        TIMESTAMP '2026-04-20 10:00:00' AS contacted_at, 'treatment' AS contact_group
        FROM customers WHERE customer_id IN ('C00003', 'C00006')""")
    campaign = Campaign("K2", "gold savers", channels=["sms", "app"], control_share=0.1,
                        start_date=START, target=TargetDefinition(
                            value_tiers=["gold"], churn_risk_min=0.5,
                            exclude_contacted_days=30))
    rows = target(con, campaign)
    ids = set(rows["customer_id"])
    i = np.array([int(c[1:]) for c in ids])
    assert (i % 3 == 2).all() and ((i % 100) >= 50).all()  # gold and risk ≥ 0.5
    assert not (i % 50 == 0).any()  # do not contact
    assert not (i % 40 == 1).any()  # no line left on the as-of day
    assert rows["priority"].is_monotonic_increasing
    assert rows["churn_risk"].is_monotonic_decreasing
    recent = Campaign("K3", "all", start_date=START, target=TargetDefinition(
        exclude_contacted_days=30, churn_risk_min=0.0))
    assert not {"C00003", "C00006"} & set(target(con, recent)["customer_id"])
    assert {"C00003", "C00006"} <= set(target(con, Campaign(
        "K3", "all", start_date=date(2026, 6, 1)))["customer_id"])
    # the budget caps the treated contacts, controls stay in proportion
    capped = target(con, Campaign("K4", "cheap", cost_per_contact=2.0, budget=100.0,
                                  control_share=0.25, start_date=START))
    assert (capped["contact_group"] == "treatment").sum() == 50
    assert 8 <= (capped["contact_group"] == "control").sum() <= 30


def test_execute_and_record_responses(tmp_path: Path) -> None:
    con = _customers(tmp_path / "w.duckdb", 300)
    con.execute("""CREATE TABLE interactions AS SELECT 'I' || customer_id AS interaction_id,
        customer_id, 'app' AS channel FROM customers WHERE customer_id < 'C00100'""")
    campaign = Campaign("K5", "app push", channels=["sms", "app"], control_share=0.2,
                        cost_per_contact=1.0, start_date=START)
    targets = target(con, campaign)
    store_targets(con, campaign, targets)
    contacts = record_contacts(con, "K5", contacted_at=datetime(2026, 5, 2, 10))
    treated = contacts[contacts["contact_group"] == "treatment"]
    assert treated["channel"].notna().all()
    assert contacts.loc[contacts["contact_group"] == "control", "channel"].isna().all()
    assert (treated.loc[treated["customer_id"] < "C00100", "channel"] == "app").all()
    assert set(treated["channel"]) == {"sms", "app"}
    yes = treated["contact_id"].iloc[:10].tolist()
    assert record_responses(con, [{"contact_id": c, "response": "accepted", "revenue": 5}
                                  for c in yes]) == 10
    # recorded again: replaced, not doubled
    record_responses(con, [{"contact_id": c, "response": "accepted", "revenue": 5,
                            "responded_at": datetime(2026, 5, 3)} for c in yes])
    record_responses(con, [{"contact_id": c, "response": "accepted", "revenue": 5,
                            "responded_at": datetime(2026, 5, 3)} for c in yes])
    with pytest.raises(ValueError, match="unknown campaign contact"):
        record_responses(con, [{"contact_id": "nope", "response": "accepted"}])
    with pytest.raises(ValueError, match="unknown response"):
        record_responses(con, [{"contact_id": yes[0], "response": "maybe"}])
    overall = evaluate(con, "K5")["overall"].iloc[0]
    assert overall["treated_responders"] == 10
    assert overall["treated"] == len(treated)


def test_newcombe_interval_matches_the_published_examples() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10
    assert newcombe_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert newcombe_interval(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=1e-4)
    assert newcombe_interval(6, 7, 2, 7) == pytest.approx((0.0582, 0.8062), abs=1e-4)
    assert newcombe_interval(5, 56, 0, 29) == pytest.approx((-0.0381, 0.1926), abs=1e-4)
    low, high = newcombe_interval(0, 10, 0, 20)
    assert low < 0 < high  # defined where Wald collapses to a point
    assert wald_interval(0, 10, 0, 20) == (0.0, 0.0)


def test_uplift_on_a_constructed_case(tmp_path: Path) -> None:
    """1000 treated (sms 600, app 400) and 250 controls; known responders and revenue."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("""CREATE TABLE campaigns AS SELECT 'K9' AS campaign_id,
        DATE '2026-03-01' AS start_date, DATE '2026-03-31' AS end_date,
        2.0 AS cost_per_contact""")
    con.execute("""CREATE TABLE campaign_contacts AS SELECT printf('T%04d', i) AS contact_id,
        'K9' AS campaign_id, printf('C%04d', i) AS customer_id, printf('+86139%08d', i) AS msisdn,
        CASE WHEN i < 600 THEN 'sms' WHEN i < 1000 THEN 'app' END AS channel,
        CASE WHEN i < 1000 THEN TIMESTAMP '2026-03-02 10:00:00' END AS contacted_at,
        CASE WHEN i < 1000 THEN 'treatment' ELSE 'control' END AS contact_group
        FROM range(1250) t(i)""")
    # responders: sms 90 of 600 (15 %), app 30 of 400 (7.5 %), control 10 of 250 (4 %)
    con.execute("""CREATE TABLE campaign_responses AS SELECT 'R' || contact_id AS response_id,
        contact_id, TIMESTAMP '2026-03-05 10:00:00' AS responded_at, 'accepted' AS response,
        20.0 AS revenue FROM campaign_contacts WHERE CAST(substr(contact_id, 2) AS INT)
        IN (SELECT * FROM range(0, 90) UNION ALL SELECT * FROM range(600, 630)
            UNION ALL SELECT * FROM range(1000, 1010))""")
    # a decline is not a response; and one churner in each group for retention
    con.execute("""INSERT INTO campaign_responses VALUES ('RX', 'T0500',
        TIMESTAMP '2026-03-05 10:00:00', 'declined', NULL)""")
    con.execute("""CREATE TABLE subscriptions AS SELECT printf('S%04d', i) AS subscription_id,
        printf('C%04d', i) AS customer_id, printf('+86139%08d', i) AS msisdn
        FROM range(1250) t(i)""")
    con.execute("""CREATE TABLE churn_events AS SELECT * FROM (VALUES
        ('E1', 'S0700', DATE '2026-03-20'), ('E2', 'S1100', DATE '2026-03-21'),
        ('E3', 'S1101', DATE '2026-02-01')) t(event_id, subscription_id, churn_date)""")
    result = evaluate(con, "K9")
    overall = result["overall"].iloc[0]
    assert overall["treated"] == 1000 and overall["control"] == 250
    assert overall["treated_response_rate"] == pytest.approx(0.12)
    assert overall["control_response_rate"] == pytest.approx(0.04)
    assert overall["response_uplift"] == pytest.approx(0.08)
    low, high = newcombe_interval(120, 1000, 10, 250)
    assert (overall["uplift_low"], overall["uplift_high"]) == pytest.approx((low, high))
    assert low < 0.08 < high and low > 0.04  # clearly positive
    assert overall["incremental_responders"] == pytest.approx(80)
    # revenue: treated 120 × 20 = 2400; control 10 × 20 = 200 → 800 expected without contact
    assert overall["incremental_revenue"] == pytest.approx(2400 - 200 / 250 * 1000)
    assert overall["cost"] == pytest.approx(2000)
    assert overall["roi"] == pytest.approx((1600 - 2000) / 2000)
    # retention: 1 churner after the start among treated, 1 among controls (E3 was before)
    assert overall["treated_retention"] == pytest.approx(999 / 1000)
    assert overall["control_retention"] == pytest.approx(249 / 250)
    by_channel = result["by_channel"].set_index("group")
    assert by_channel.loc["sms", "response_uplift"] == pytest.approx(0.15 - 0.04)
    assert by_channel.loc["app", "response_uplift"] == pytest.approx(0.075 - 0.04)
    assert by_channel.loc["app", "control"] == 250  # each channel against the whole control
    assert by_channel["cost"].sum() == pytest.approx(2000)


def test_network_aware_ranking_segments_and_circles(tmp_path: Path) -> None:
    con = _customers(tmp_path / "w.duckdb", 60)
    con.execute("""CREATE TABLE numbers AS SELECT msisdn, true AS on_net, subscription_id,
        customer_id FROM subscriptions""")
    # circles of ten: circle 1 lost 30 % of its members, the others none
    con.execute("""CREATE TABLE circles AS SELECT DATE '2026-05-01' AS cutoff, c AS circle_id,
        10 AS size, CASE WHEN c = 1 THEN 0.3 ELSE 0.0 END AS churn_rate FROM range(6) t(c)""")
    con.execute("""CREATE TABLE circle_members AS SELECT DATE '2026-05-01' AS cutoff,
        i // 10 AS circle_id, printf('+86138%08d', i) AS msisdn, true AS on_net,
        1.0 AS pagerank, i % 10 = 7 AS is_influencer FROM range(60) t(i)""")
    con.execute("""CREATE TABLE segment_members AS SELECT DATE '2026-05-01' AS cutoff,
        printf('S%05d', i) AS subscription_id, printf('C%05d', i) AS customer_id,
        i % 3 AS segment_id FROM range(60) t(i)""")
    plain = target(con, Campaign("N1", "plain", start_date=START, target=TargetDefinition(
        churn_risk_min=0.0)))
    aware = target(con, Campaign("N1", "aware", start_date=START, target=TargetDefinition(
        churn_risk_min=0.0, prefer_influencers_of_at_risk_circles=True)))
    assert aware.iloc[0]["customer_id"] == "C00017"  # circle 1's influencer comes first
    assert bool(aware.iloc[0]["influencer_of_at_risk_circle"])
    assert aware["influencer_of_at_risk_circle"].sum() == 1
    assert plain.iloc[0]["customer_id"] != "C00017"
    # the same customers, and the same control group, whatever the ranking
    assert set(plain["customer_id"]) == set(aware["customer_id"])
    assert plain.set_index("customer_id")["contact_group"].sort_index().equals(
        aware.set_index("customer_id")["contact_group"].sort_index())
    in_circle = target(con, Campaign("N2", "circle 2", start_date=START,
                                     target=TargetDefinition(circles=[2], segments=[1])))
    ids = sorted(int(c[1:]) for c in in_circle["customer_id"])
    assert ids == [i for i in range(20, 30) if i % 3 == 1 and i % 40 != 1 and i % 50 != 0]
