"""Command-line tables in a log (not a terminal): every cell whole, none cut to "C26…"."""

from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from api.cli import app
from graph.snapshot import SnapshotStore

CAMPAIGNS = ("C2026-07-RETENTION-POSTPAID-BEIJING", "C2026-07-WINBACK-PREPAID-SHANGHAI")


def _campaign_snapshot(root: Path) -> None:
    """A published snapshot whose warehouse holds two campaigns with long ids."""
    store = SnapshotStore(root)
    with store.building("campaigns") as building:
        con = duckdb.connect(str(building.warehouse_path))
        ids = ", ".join(f"('{c}')" for c in CAMPAIGNS)
        con.execute(f"""CREATE TABLE campaigns AS SELECT campaign_id,
            DATE '2026-07-01' AS start_date, DATE '2026-07-31' AS end_date,
            1.5 AS cost_per_contact FROM (VALUES {ids}) t(campaign_id)""")
        con.execute(f"""CREATE TABLE campaign_contacts AS SELECT
            c.campaign_id || '-' || i AS contact_id, c.campaign_id,
            printf('C%04d', i) AS customer_id, printf('+86139%08d', i) AS msisdn,
            CASE WHEN i < 80 THEN 'sms' END AS channel,
            CASE WHEN i < 80 THEN TIMESTAMP '2026-07-02 10:00:00' END AS contacted_at,
            CASE WHEN i < 80 THEN 'treatment' ELSE 'control' END AS contact_group
            FROM (VALUES {ids}) c(campaign_id), range(100) t(i)""")
        con.execute("""CREATE TABLE campaign_responses AS SELECT 'R' || contact_id AS response_id,
            contact_id, TIMESTAMP '2026-07-05 10:00:00' AS responded_at,
            'accepted' AS response, 12.0 AS revenue FROM campaign_contacts
            WHERE CAST(split_part(contact_id, '-', -1) AS INT) % 7 = 0""")
        con.execute("""CREATE TABLE subscriptions AS SELECT printf('S%04d', i) AS subscription_id,
            printf('C%04d', i) AS customer_id, printf('+86139%08d', i) AS msisdn
            FROM range(100) t(i)""")
        con.execute("""CREATE TABLE churn_events (event_id VARCHAR, subscription_id VARCHAR,
            churn_date DATE)""")
        con.close()
        store.publish(building)


def test_campaign_table_in_a_log_shows_whole_ids(tmp_path: Path) -> None:
    _campaign_snapshot(tmp_path)
    # 80 columns is what rich assumes off a terminal; the table needs far more
    shown = CliRunner().invoke(app, ["campaigns", "--data-dir", str(tmp_path)],
                               env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    for campaign_id in CAMPAIGNS:
        assert campaign_id in shown.output
    assert "…" not in shown.output
    widest = max(len(line) for line in shown.output.splitlines())
    assert widest > 80
    # every column header is there whole, on the header line
    header = next(line for line in shown.output.splitlines() if "campaign_id" in line)
    for column in ("treated", "control", "incr. revenue", "cost", "roi"):
        assert column in header
