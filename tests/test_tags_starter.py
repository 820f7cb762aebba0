"""The starter library on the synthetic operator: every tag compiles and runs, the lifecycle
stages do not overlap, and the counts are plausible."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from test_campaigns_synthetic import staged_operator

from insight.tags import apply_tags, starter_library

APRIL = date(2026, 4, 1)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """The staged operator, with the insight and graph tables stood in as temp tables
    (deterministic, hash-based) so every starter measure has its input."""
    warehouse, _ = staged_operator()
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET enable_progress_bar = false")
    cut = "DATE '2026-05-01'"
    con.execute(f"""CREATE TEMP TABLE customer_value AS SELECT {cut} AS cutoff, customer_id,
        (hash(customer_id) % 1000) / 1000.0 AS churn_risk, 100.0 AS clv,
        50.0 AS monthly_revenue, 10.0 AS network_value,
        ['platinum', 'gold', 'silver', 'bronze', 'basic'][1 + (hash(customer_id) % 5)::BIGINT]
            AS value_tier FROM customers""")
    con.execute(f"""CREATE TEMP TABLE segment_members AS SELECT {cut} AS cutoff,
        subscription_id, customer_id, msisdn, (hash(msisdn) % 4)::BIGINT AS segment_id
        FROM subscriptions""")
    con.execute(f"""CREATE TEMP TABLE graph_features AS SELECT {cut} AS cutoff, s.msisdn,
        s.customer_id, s.subscription_id, (hash(s.msisdn) % 40)::BIGINT AS circle_id,
        e.subscription_id IS NOT NULL AS churned_before_cutoff,
        (hash(s.msisdn) % 15)::BIGINT AS degree, (hash(s.msisdn) % 100) / 1e4 AS pagerank,
        25 AS circle_size, (hash(s.msisdn) % 5)::BIGINT AS churned_neighbours,
        0.1 AS churned_tie_share
        FROM subscriptions s LEFT JOIN churn_events e USING (subscription_id)""")
    con.execute(f"""CREATE TEMP TABLE circle_members AS SELECT {cut} AS cutoff, circle_id,
        msisdn, true AS on_net, pagerank, hash(msisdn) % 7 = 0 AS is_influencer
        FROM graph_features""")
    yield con
    con.close()


def test_every_starter_tag_runs(con: duckdb.DuckDBPyConnection) -> None:
    library = starter_library()
    result = apply_tags(con, library, APRIL)
    customers = con.execute("SELECT count(*) FROM customers").fetchall()[0][0]
    assert set(result.counts) == set(library.tags)
    empty = [t for t, n in result.counts.items() if n == 0]
    assert not empty, empty
    everyone = [t for t, n in result.counts.items() if n >= 0.9 * customers]
    assert not everyone, everyone
    # lifecycle stages exclude each other (exit before decline before growth / maturity)
    stages = result.assignments[result.assignments["tag_id"].str.startswith("lifecycle_")]
    assert stages.groupby("customer_id").size().max() == 1
    # a voice lover never has the data-heavy feature; evidence says which fired
    voice = result.evidence[(result.evidence["tag_id"] == "voice_lover")]
    assert not voice.loc[voice["feature"] == "data_heavy", "fired"].any()
    assert voice.loc[voice["feature"] == "voice_heavy", "fired"].all()
    # churned lines this month make the exit stage, and match the warehouse
    exit_ids = set(stages.loc[stages["tag_id"] == "lifecycle_exit", "customer_id"])
    left = {r[0] for r in con.execute(
        "SELECT DISTINCT s.customer_id FROM churn_events e JOIN subscriptions s "
        "USING (subscription_id) WHERE e.churn_date >= ? AND e.churn_date < ?",
        [APRIL, date(2026, 5, 1)]).fetchall()}
    assert left and left <= exit_ids
