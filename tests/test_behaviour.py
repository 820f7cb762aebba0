"""Behaviour indicators per subscriber and month, from staged CDRs."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
from test_callgraph import make_warehouse

from graph.behaviour import BEHAVIOUR_COLUMNS, build_behaviour_monthly

A, B, C, OFF = "+4510000001", "+4510000002", "+4510000003", "+4520000009"

CDRS = [  # caller, callee, start, seconds, type, roaming
    (A, B, "2026-03-02 09:00:00", 60, "voice", False),
    (B, A, "2026-03-02 23:30:00", 120, "voice", False),
    (A, OFF, "2026-03-05 10:00:00", 300, "voice", True),
    (A, B, "2026-03-05 10:10:00", 0, "sms", False),
    (C, A, "2026-03-09 05:00:00", 30, "voice", False),
    (A, B, "2026-02-20 12:00:00", 10, "voice", False),  # February: its own month
    (A, B, "2026-04-02 12:00:00", 10, "voice", False),  # after the cut-off
]


def _with_cdrs(tmp_path: Path):
    con = make_warehouse(tmp_path / "w.duckdb")
    con.execute("""CREATE TABLE cdrs (record_id VARCHAR, caller VARCHAR, callee VARCHAR,
        start_time TIMESTAMP, duration_s BIGINT, event_type VARCHAR, roaming BOOLEAN)""")
    con.executemany("INSERT INTO cdrs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [[f"R{i}", *row] for i, row in enumerate(CDRS)])
    con.execute("CREATE TABLE data_usage (msisdn VARCHAR, usage_date DATE, megabytes DOUBLE, "
                "roaming BOOLEAN)")
    con.execute(f"INSERT INTO data_usage VALUES ('{A}', '2026-03-03', 100.5, FALSE), "
                f"('{A}', '2026-03-04', 50, TRUE)")
    return con


def test_behaviour_indicators(tmp_path: Path) -> None:
    con = _with_cdrs(tmp_path)
    rows = build_behaviour_monthly(con, cutoff=date(2026, 4, 1))
    cols = list(BEHAVIOUR_COLUMNS)
    got = {(r[0], r[1]): dict(zip(cols, r, strict=True)) for r in con.execute(
        f"SELECT {', '.join(cols)} FROM behaviour_monthly").fetchall()}
    assert rows == len(got) == 5  # A, B, C in March; A and B in February
    a = got[(A, date(2026, 3, 1))]
    assert a["interactions"] == 5 and a["active_days"] == 3
    assert (a["calls"], a["calls_out"], a["calls_in"], a["sms_out"], a["sms_in"]) == (4, 2, 2, 1, 0)
    assert a["contacts"] == 3 and a["call_contacts"] == 3 and a["sms_contacts"] == 1
    assert a["call_seconds_total"] == 510 and a["call_seconds_mean"] == pytest.approx(127.5)
    assert a["percent_nocturnal"] == pytest.approx(2 / 5)  # 23:30 and 05:00
    assert a["percent_initiated_interactions"] == pytest.approx(3 / 5)
    assert a["percent_initiated_calls"] == pytest.approx(2 / 4)
    assert a["interactions_per_contact"] == pytest.approx(5 / 3)
    p = [3 / 5, 1 / 5, 1 / 5]
    h = -sum(x * math.log(x) for x in p)
    assert a["entropy_of_contacts"] == pytest.approx(h)
    assert a["entropy_of_contacts_normalized"] == pytest.approx(h / math.log(3))
    gaps = [14.5, 58.5, 1 / 6, 90 + 5 / 6]  # hours between A's March events
    assert a["interevent_seconds_mean"] == pytest.approx(sum(gaps) / 4 * 3600)
    assert a["percent_out_of_network_calls"] == pytest.approx(1 / 4)
    assert a["percent_out_of_network_contacts"] == pytest.approx(1 / 3)
    assert a["percent_out_of_network_minutes"] == pytest.approx(300 / 510)
    assert a["roaming_share"] == pytest.approx(1 / 3)  # of A's initiated interactions
    assert a["data_mb"] == pytest.approx(150.5)
    assert (A, date(2026, 4, 1)) not in got  # April is not complete before the cut-off
    b_march = got[(B, date(2026, 3, 1))]
    assert b_march["percent_out_of_network_minutes"] == 0.0  # none, not unknown
    assert b_march["percent_out_of_network_calls"] == 0.0
    b = got[(B, date(2026, 2, 1))]
    assert (b["calls_in"], b["calls_out"], b["data_mb"]) == (1, 0, 0.0)
    assert OFF not in {k[0] for k in got}  # off-net numbers are contacts, not subscribers
    # idempotent: a second run replaces the same months
    assert build_behaviour_monthly(con, cutoff=date(2026, 4, 1)) == rows
    assert con.execute("SELECT count(*) FROM behaviour_monthly").fetchall()[0][0] == rows


def test_no_cdrs_is_not_an_error(tmp_path: Path) -> None:
    con = make_warehouse(tmp_path / "w.duckdb")
    assert build_behaviour_monthly(con, cutoff=date(2026, 4, 1)) == 0


def _behaviour_rows(con) -> set[tuple]:
    cols = ", ".join(f"round({c}, 9)" if kind == "DOUBLE" else c
                     for c, kind in BEHAVIOUR_COLUMNS.items())
    return set(con.execute(f"SELECT {cols} FROM behaviour_monthly").fetchall())


def test_behaviour_computes_new_months_and_what_changed_only(tmp_path: Path) -> None:
    """Cut-off by cut-off, with a month's CDRs changed and numbers joining and leaving the
    network between runs: the rows equal those of one computation of every month."""
    con = _with_cdrs(tmp_path)
    cutoffs = [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]
    build_behaviour_monthly(con, cutoff=cutoffs[0])
    february = _behaviour_rows(con)
    build_behaviour_monthly(con, cutoff=cutoffs[1])
    assert february < _behaviour_rows(con)  # February kept, March added
    # between runs: OFF joins the network, C leaves it, a February CDR changes, May arrives
    con.execute(f"UPDATE numbers SET on_net = NOT on_net WHERE msisdn IN ('{OFF}', '{C}')")
    con.execute("UPDATE cdrs SET duration_s = 99 WHERE start_time = '2026-02-20 12:00:00'")
    con.execute(f"INSERT INTO cdrs VALUES ('R99', '{B}', '{OFF}', '2026-04-10 08:00:00', 40, "
                "'voice', FALSE)")
    assert build_behaviour_monthly(con, cutoff=cutoffs[2]) == len(_behaviour_rows(con))
    incremental = _behaviour_rows(con)
    con.execute("DROP TABLE behaviour_monthly")
    build_behaviour_monthly(con, cutoff=cutoffs[2])
    assert incremental == _behaviour_rows(con)
    subscribers = {(row[0], row[1]) for row in incremental}
    assert (OFF, date(2026, 3, 1)) in subscribers and (C, date(2026, 3, 1)) not in subscribers
    assert (A, date(2026, 4, 1)) in subscribers
