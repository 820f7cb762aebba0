"""The real Copenhagen call + SMS network through the column mapping and the whole ingest job:
call graph, graph features and call circles on data with no billing and no churn."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from graph.algorithms import modularity
from graph.callgraph import call_graph
from ingest.job import run_ingest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
MAPPING = ROOT / "ingest" / "mappings" / "copenhagen.yaml"


def _reference_network() -> tuple[int, int]:
    """People and distinct ties read straight from the CSV files by DuckDB (the reference).

    Each file's last line has no line break and is quarantined by ingest, so it is left
    out here too.
    """
    con = duckdb.connect()
    rows = con.execute(f"""
        WITH calls AS (SELECT Source AS a, Target AS b, row_number() OVER () AS n
                       FROM read_csv('{DATA / 'copenhagen-calls.csv'}', delim = ';')),
             sms AS (SELECT Source AS a, Target AS b, row_number() OVER () AS n
                     FROM read_csv('{DATA / 'copenhagen-sms.csv'}', delim = ';')),
             kept AS (SELECT a, b FROM calls WHERE n < (SELECT max(n) FROM calls)
                      UNION ALL SELECT a, b FROM sms WHERE n < (SELECT max(n) FROM sms))
        SELECT (SELECT count(DISTINCT p) FROM (SELECT a AS p FROM kept UNION ALL
                                               SELECT b FROM kept)),
               (SELECT count(*) FROM (SELECT DISTINCT least(a, b), greatest(a, b)
                                      FROM kept WHERE a <> b))
    """).fetchall()
    con.close()
    return rows[0]


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not beside the checkout")
def test_copenhagen_network_gets_circles_without_billing_or_churn(tmp_path: Path) -> None:
    result = run_ingest(DATA, data_dir=tmp_path / "data", mapping=MAPPING)
    assert result.published and result.graph_cutoffs
    cutoff = result.graph_cutoffs[-1]
    con = duckdb.connect(str(result.snapshot.warehouse_path), read_only=True)
    try:
        graph = call_graph(con, cutoff=cutoff)
        circles = con.execute(
            "SELECT circle_id, msisdn FROM circle_members WHERE cutoff = ?", [cutoff]
        ).fetchall()
        features = con.execute(
            "SELECT count(*), count(pagerank), max(churned_neighbours) FROM graph_features "
            "WHERE cutoff = ?", [cutoff]).fetchall()[0]
        bills = con.execute("SELECT count(*) FROM bills").fetchall()[0][0]
    finally:
        con.close()
    people, ties = _reference_network()
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (people, ties)
    members: dict[int, set[str]] = {}
    for circle_id, msisdn in circles:
        members.setdefault(circle_id, set()).add(msisdn)
    assert sum(len(m) for m in members.values()) == people  # every person in one circle
    quality = modularity(graph, list(members.values()))
    print(f"Copenhagen: {people} people, {ties} ties, {len(members)} circles, "
          f"modularity {quality:.3f}")
    assert quality > 0.7  # a friendship network has strong communities
    assert features[0] == people and features[1] == people
    assert features[2] == 0 and bills == 0  # no churn, no billing: nothing invented
