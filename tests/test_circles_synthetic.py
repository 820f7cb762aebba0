"""Call circles against the synthetic operator's planted circles (ground truth)."""

from __future__ import annotations

import math
import random
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import igraph
import pytest
from sklearn.metrics import normalized_mutual_info_score

from graph.behaviour import BEHAVIOUR_TABLE
from graph.callgraph import edge_arrays, igraph_from_arrays, stage_call_edges
from graph.features import FeatureSettings, stage_neighbours, stage_subscribers
from graph.stage import CUTOFF_TABLES, build_graph_cutoffs, build_graph_stage
from graph.warehouse import stale_cutoffs
from ingest.aggregate import build_aggregates
from ingest.load import stage_sources
from ingest.synthetic import generate_operator

CUTOFF = date(2026, 4, 1)


def _warehouse(tmp_path: Path) -> tuple[Path, Path]:
    """A 300-subscriber synthetic operator ingested into a warehouse: (source, warehouse)."""
    source = tmp_path / "source"
    generate_operator(source, subscribers=300, months=3, seed=3, progress=False)
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    stage_sources(con, source, run_id="run-1", now=datetime(2026, 5, 1))
    build_aggregates(con)
    con.close()
    return source, path


def test_circles_recover_the_planted_circles(tmp_path: Path) -> None:
    source, path = _warehouse(tmp_path)
    con = duckdb.connect(str(path))
    report = build_graph_stage(con, cutoff=CUTOFF, seed=0)

    planted = dict(con.execute(
        f"SELECT msisdn, circle_id FROM read_csv('{source / 'ground-truth' / 'circles.csv'}')"
    ).fetchall())
    found = dict(con.execute(
        "SELECT msisdn, circle_id FROM circle_members WHERE cutoff = ?", [CUTOFF]).fetchall())
    common = sorted(set(planted) & set(found))
    assert len(common) > 0.9 * len(planted)
    ours = normalized_mutual_info_score([planted[m] for m in common], [found[m] for m in common])

    stage_call_edges(con, cutoff=CUTOFF)  # igraph's Leiden run directly on the same graph
    arrays = edge_arrays(con)
    g = igraph_from_arrays(arrays.n, arrays.u, arrays.v)
    index = {m: i for i, m in enumerate(arrays.msisdn)}
    direct = []
    for iterations in (2, -1):
        igraph.set_random_number_generator(random.Random(0))
        try:
            part = g.community_leiden(objective_function="modularity",
                                      weights=arrays.weight.tolist(), n_iterations=iterations)
        finally:
            igraph.set_random_number_generator(random)
        direct.append(normalized_mutual_info_score(
            [planted[m] for m in common], [part.membership[index[m]] for m in common]))
    print(f"synthetic operator, 300 subscribers: {report.nodes} numbers, {report.edges} ties, "
          f"{report.circles} circles, modularity {report.modularity:.4f}, NMI {ours:.4f} "
          f"(igraph Leiden directly {max(direct):.4f})")
    assert ours >= max(direct) - 0.01
    assert ours > 0.8


def test_worker_process_gives_the_same_stage(tmp_path: Path) -> None:
    """igraph in a worker process alongside DuckDB writes what the in-process stage writes."""
    _, path = _warehouse(tmp_path)
    shutil.copy(path, tmp_path / "parallel.duckdb")
    tables = {"graph_features": "msisdn", "circles": "circle_id",
              "circle_members": "circle_id, msisdn",
              "prospects": "msisdn", "prospect_referrers": "msisdn, referrer_msisdn",
              "behaviour_monthly": "msisdn, month"}
    written = []
    for name, parallel in (("warehouse.duckdb", False), ("parallel.duckdb", True)):
        con = duckdb.connect(str(tmp_path / name))
        report = build_graph_stage(con, cutoff=CUTOFF, seed=0, parallel=parallel)
        assert report.circles > 10 and report.behaviour_rows > 0
        written.append({t: con.execute(f"SELECT * FROM {t} ORDER BY {k}").fetchall()
                        for t, k in tables.items()})
        con.close()
    inline, worker = written
    for table in tables:
        assert len(worker[table]) == len(inline[table]) > 0, table
        for got, expected in zip(worker[table], inline[table], strict=True):
            # equal up to the last bits of DuckDB's parallel float sums
            assert [pytest.approx(x, rel=1e-12, nan_ok=True) if isinstance(x, float) else x
                    for x in expected] == list(got), table


# The neighbour aggregates as one GROUP BY over both orientations of every tie: an
# independent statement of what graph.features.neighbour_aggregates computes in numpy.
ORACLE = """
    WITH adj AS (
        SELECT a.vid, a.w_out, a.w_in, a.weight, s.on_net AS nbr_on_net, s.plan AS nbr_plan,
               s.arpu AS nbr_arpu, s.tenure_days AS nbr_tenure, s.churn_date AS nbr_churn,
               me.plan AS own_plan
        FROM (SELECT u AS vid, v AS nbr, weight_ab AS w_out, weight_ba AS w_in, weight
              FROM graph_edges
              UNION ALL SELECT v, u, weight_ba, weight_ab, weight FROM graph_edges) a
        JOIN graph_subscribers s ON s.vid = a.nbr
        JOIN graph_subscribers me ON me.vid = a.vid
    ),
    top_plan AS (
        SELECT vid, first(nbr_plan ORDER BY n DESC, nbr_plan) AS neighbour_top_plan
        FROM (SELECT vid, nbr_plan, count(*) AS n FROM adj
              WHERE nbr_plan IS NOT NULL GROUP BY ALL)
        GROUP BY vid
    )
    SELECT vid, count(*) AS degree, count(*) FILTER (w_out > 0) AS out_degree,
        count(*) FILTER (w_in > 0) AS in_degree, sum(weight) AS strength,
        sum(w_out) AS strength_out, sum(w_in) AS strength_in,
        count(*) FILTER (w_out > 0 AND w_in > 0) AS reciprocated,
        avg(nbr_on_net::INT) AS onnet_contact_share,
        sum(weight) FILTER (nbr_on_net) / nullif(sum(weight), 0) AS onnet_strength_share,
        count(*) FILTER (nbr_churn IS NOT NULL) AS churned_neighbours,
        coalesce(sum(weight * pow(0.5, date_diff('day', nbr_churn, DATE '{cut}') / {half}))
                 FILTER (nbr_churn IS NOT NULL), 0) AS churned_tie_weight,
        min(date_diff('day', nbr_churn, DATE '{cut}'))::DOUBLE AS days_since_contact_left,
        avg(nbr_arpu) AS neighbour_mean_arpu, avg(nbr_tenure) AS neighbour_mean_tenure_days,
        avg((nbr_plan = own_plan)::INT) AS neighbour_same_plan_share,
        any_value(t.neighbour_top_plan) AS neighbour_top_plan
    FROM adj LEFT JOIN top_plan t USING (vid) GROUP BY vid ORDER BY vid
"""


def test_neighbour_aggregates_mean_what_the_group_by_means(tmp_path: Path) -> None:
    """numpy sums over the edge arrays give the GROUP BY's figures, NULLs and ties included."""
    _, path = _warehouse(tmp_path)
    con = duckdb.connect(str(path))
    settings = FeatureSettings()
    stage_call_edges(con, cutoff=CUTOFF)
    arrays = edge_arrays(con)
    stage_subscribers(con, cutoff=CUTOFF, settings=settings)
    # a few neighbours without a plan or a bill, so NULLs are skipped as SQL skips them
    con.execute("UPDATE graph_subscribers SET plan = NULL, arpu = NULL WHERE vid % 11 = 0")
    stage_neighbours(con, arrays, cutoff=CUTOFF, settings=settings)
    cur = con.execute("SELECT * FROM graph_neighbours ORDER BY vid")
    names = [d[0] for d in cur.description]
    got = cur.fetchall()
    cur = con.execute(ORACLE.format(cut=CUTOFF, half=float(settings.churn_half_life_days)))
    assert [d[0] for d in cur.description] == names
    expected = cur.fetchall()
    assert len(got) == len(expected) > 100
    column = {name: [want[i] for want in expected] for i, name in enumerate(names)}
    assert any(x is None for x in column["neighbour_mean_arpu"])  # covered: all NULL
    assert any(x > 0 for x in column["churned_neighbours"])  # covered: churned neighbours
    ((tied,),) = con.execute("""
        SELECT count(*) FROM (
            SELECT vid FROM (
                SELECT vid, n, max(n) OVER (PARTITION BY vid) AS top FROM (
                    SELECT a.vid, s.plan, count(*) AS n
                    FROM (SELECT u AS vid, v AS nbr FROM graph_edges
                          UNION ALL SELECT v, u FROM graph_edges) a
                    JOIN graph_subscribers s ON s.vid = a.nbr
                    WHERE s.plan IS NOT NULL GROUP BY ALL))
            WHERE n = top GROUP BY vid HAVING count(*) > 1)""").fetchall()
    assert tied > 0  # covered: top plans tied between two names
    con.close()


def test_an_older_versions_tables_are_rebuilt_in_the_same_run(tmp_path: Path) -> None:
    """Tables an older version wrote (other columns) keep every cut-off: the first cut-off
    built migrates them, and the history from the oldest cut-off left with the old columns
    on is built again, in order: the same rows as a first run, circle ids included."""
    _, path = _warehouse(tmp_path)
    con = duckdb.connect(str(path))
    cutoffs = [date(2026, 2, 1), date(2026, 3, 1), CUTOFF]
    assert build_graph_cutoffs(con, cutoffs) == cutoffs
    tables = (*CUTOFF_TABLES, BEHAVIOUR_TABLE)
    expected = {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in tables}
    columns = {t: [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()] for t in tables}
    # what an older version left: one column it did not have, one it had and we dropped
    con.execute("ALTER TABLE graph_features DROP COLUMN churned_tie_share")
    con.execute("ALTER TABLE graph_features ADD COLUMN retired_feature DOUBLE")
    con.execute("ALTER TABLE circles DROP COLUMN density")
    con.execute("ALTER TABLE behaviour_monthly DROP COLUMN roaming_share")

    built: list[tuple[date, int, int]] = []
    order = build_graph_cutoffs(con, [CUTOFF], on_built=lambda *step: built.append(step))
    assert order == [CUTOFF, *cutoffs]
    assert built[0] == (CUTOFF, 1, 4) and built[-1] == (CUTOFF, 4, 4)
    assert stale_cutoffs(con, CUTOFF_TABLES) == []
    for table in tables:
        assert [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()] == columns[table]
        rows = sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        assert len(rows) == len(expected[table]), table
        for row, before in zip(rows, expected[table], strict=True):
            # sums of money may differ in the last bits: DuckDB's parallel sums change order
            assert all(math.isclose(a, b, rel_tol=1e-9) if isinstance(a, float) else a == b
                       for a, b in zip(row, before, strict=True)), (table, row, before)
