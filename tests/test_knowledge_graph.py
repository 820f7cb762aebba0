"""The knowledge-graph stage on a hand-built warehouse: real DuckDB file, real Oxigraph store."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyoxigraph as ox
import pytest
from rdflib import Literal
from rdflib.namespace import FOAF

from graph.knowledge import (
    _copy_into_store,
    build_knowledge_graph,
    knowledge_graph_census,
    open_knowledge_graph,
    provenance_turtle,
    update_knowledge_graph,
    validate_knowledge_graph,
)
from ontology import CC, customer_iri, load_ontology, number_iri, run_iri, snapshot_iri, tie_iri

TRICKY_NAME = 'Zhang "Wei" \\ back\nslash\r 张伟'
N1, N2, N3, N4 = "+8613800000001", "+8613800000002", "+8613800000003", "+8613800000004"
OFF1, OFF2 = "+8613900000001", "+8618900000002"

WAREHOUSE_DDL = """
CREATE TABLE customers (customer_id VARCHAR, customer_type VARCHAR, name VARCHAR,
    gender VARCHAR, birth_date DATE, id_number VARCHAR, address VARCHAR, region VARCHAR,
    join_date DATE, do_not_contact BOOLEAN, _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE products (product_id VARCHAR, name VARCHAR, product_type VARCHAR,
    payment_type VARCHAR, monthly_fee DOUBLE, included_minutes BIGINT, included_sms BIGINT,
    included_data_mb BIGINT, price_per_minute DOUBLE, price_per_mb DOUBLE,
    _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE subscriptions (subscription_id VARCHAR, customer_id VARCHAR, msisdn VARCHAR,
    product_id VARCHAR, status VARCHAR, start_date DATE, end_date DATE,
    _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE cdrs (record_id VARCHAR, caller VARCHAR, callee VARCHAR, start_time TIMESTAMP,
    duration_s BIGINT, event_type VARCHAR, roaming BOOLEAN, _source_file VARCHAR,
    _source_line BIGINT);
CREATE TABLE data_usage (msisdn VARCHAR, usage_date DATE, megabytes DOUBLE, roaming BOOLEAN,
    _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE bills (bill_id VARCHAR, subscription_id VARCHAR, period DATE, issue_date DATE,
    due_date DATE, recurring_charge DOUBLE, voice_charge DOUBLE, sms_charge DOUBLE,
    data_charge DOUBLE, vas_charge DOUBLE, roaming_charge DOUBLE, total_amount DOUBLE,
    arrears DOUBLE, _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE payments (payment_id VARCHAR, subscription_id VARCHAR, bill_id VARCHAR,
    paid_at TIMESTAMP, amount DOUBLE, method VARCHAR, _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE interactions (interaction_id VARCHAR, customer_id VARCHAR, msisdn VARCHAR,
    channel VARCHAR, occurred_at TIMESTAMP, category VARCHAR, outcome VARCHAR,
    _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE campaigns (campaign_id VARCHAR, name VARCHAR, objective VARCHAR, offer VARCHAR,
    channels VARCHAR, start_date DATE, end_date DATE, budget DOUBLE, cost_per_contact DOUBLE,
    control_share DOUBLE, _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE campaign_contacts (contact_id VARCHAR, campaign_id VARCHAR, customer_id VARCHAR,
    msisdn VARCHAR, channel VARCHAR, contacted_at TIMESTAMP, contact_group VARCHAR,
    _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE campaign_responses (response_id VARCHAR, contact_id VARCHAR,
    responded_at TIMESTAMP, response VARCHAR, revenue DOUBLE, _source_file VARCHAR,
    _source_line BIGINT);
CREATE TABLE churn_events (event_id VARCHAR, subscription_id VARCHAR, churn_date DATE,
    churn_type VARCHAR, recipient_operator VARCHAR, _source_file VARCHAR, _source_line BIGINT);
CREATE TABLE numbers (msisdn VARCHAR, on_net BOOLEAN, operator VARCHAR,
    subscription_id VARCHAR, customer_id VARCHAR, first_seen DATE, last_seen DATE);
CREATE TABLE call_edges (month DATE, a VARCHAR, b VARCHAR, calls_ab BIGINT, calls_ba BIGINT,
    seconds_ab BIGINT, seconds_ba BIGINT, sms_ab BIGINT, sms_ba BIGINT, night_calls BIGINT,
    roaming_calls BIGINT, first_contact TIMESTAMP, last_contact TIMESTAMP);
"""


def _fill(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(WAREHOUSE_DDL)
    f = ("x.csv", 2)
    con.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
        ("C1", "individual", TRICKY_NAME, "M", "1980-02-03", "110101198002030011",
         "1 Road", "Beijing", "2019-01-01", False, *f),
        ("C2", "enterprise", "Acme Ltd", None, None, None, None, "Shanghai", "2020-05-01",
         None, *f),
        ("C3", "group", "Family Li 李家", None, None, None, None, "Beijing", "2021-01-01",
         True, *f),
        ("C/4 x", "individual", "Wang", "F", None, None, None, "Beijing", "2022-01-01",
         None, *f),
    ])
    con.executemany("INSERT INTO products VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
        ("P1", "Easy 19", "plan", "prepaid", 19.0, 100, 50, 1024, 0.15, 0.0005, *f),
        ("P2", "Family 99", "plan", "postpaid", 99.9, 1000, None, 20480, 0.1, None, *f),
        ("P3", "Ringback tones", "vas", None, 5.0, None, None, None, None, None, *f),
    ])
    con.executemany("INSERT INTO subscriptions VALUES (?,?,?,?,?,?,?,?,?)", [
        ("S1", "C1", N1, "P1", "active", "2019-01-01", None, *f),
        ("S2", "C2", N2, "P2", "active", "2020-05-01", None, *f),
        ("S3", "C3", N3, "P2", "terminated", "2021-01-01", "2026-02-10", *f),
        ("S4", "C/4 x", N4, "P1", "suspended", "2022-01-01", None, *f),
    ])
    con.execute(f"INSERT INTO cdrs VALUES ('R-SECRET-1', '{N1}', '{N2}', "
                "'2026-01-05 10:00:00', 300, 'voice', false, 'cdrs-2026-01.csv', 2)")
    con.execute(f"INSERT INTO data_usage VALUES ('{N1}', '2026-01-05', 12.5, false, 'd.csv', 2)")
    con.executemany("INSERT INTO bills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
        ("B1", "S1", "2026-01-01", "2026-02-01", None, 19, 0, 0, 1.5, 0, 0, 20.5, None, *f),
        ("B2", "S2", "2026-01-01", "2026-02-01", "2026-02-20", 99.9, 2.25, 0.1, 0, 5, 0, 107.25,
         30.0, *f),
    ])
    con.executemany("INSERT INTO payments VALUES (?,?,?,?,?,?,?,?)", [
        ("Y1", "S2", "B2", "2026-02-10 09:30:00", 107.25, "wechat", *f),
        ("Y2", "S1", None, "2026-01-15 20:00:00", 50, "voucher", *f),
    ])
    con.executemany("INSERT INTO interactions VALUES (?,?,?,?,?,?,?,?,?)", [
        ("I1", "C1", N1, "store", "2026-01-07 11:00:00", "complaint", "resolved", *f),
        ("I2", "C2", None, "call_centre", "2026-01-08 11:00:00", "enquiry", None, *f),
        ("I3", "C3", "+8613700000000", "app", "2026-02-01 08:00:00", "cancellation",
         "escalated", *f),
    ])
    con.execute("INSERT INTO campaigns VALUES ('K1', 'Keep \"them\"', 'retention', "
                "'10% off', 'sms;call_centre', '2026-01-01', '2026-01-31', 1000, 0.5, 0.1, "
                "'c.csv', 2)")
    con.executemany("INSERT INTO campaign_contacts VALUES (?,?,?,?,?,?,?,?,?)", [
        ("T1", "K1", "C1", N1, "sms", "2026-01-03 10:00:00", "treatment", *f),
        ("T2", "K1", "C3", None, None, None, "control", *f),
    ])
    con.execute("INSERT INTO campaign_responses VALUES ('R1', 'T1', '2026-01-04 12:00:00', "
                "'accepted', 10, 'r.csv', 2)")
    con.execute("INSERT INTO churn_events VALUES ('E1', 'S3', '2026-02-10', 'port_out', "
                "'China Unicom', 'e.csv', 2)")
    con.executemany("INSERT INTO numbers VALUES (?,?,?,?,?,?,?)", [
        (N1, True, "China Mobile", "S1", "C1", "2019-01-01", "2026-02-28"),
        (N2, True, "China Mobile", "S2", "C2", "2020-05-01", "2026-02-28"),
        (N3, True, "China Mobile", "S3", "C3", "2021-01-01", "2026-02-10"),
        (N4, True, "China Mobile", "S4", "C/4 x", "2022-01-01", None),
        (OFF1, False, "China Unicom", None, None, "2026-01-02", "2026-01-20"),
        (OFF2, False, "China Telecom", None, None, "2026-02-02", "2026-02-02"),
    ])
    con.executemany("INSERT INTO call_edges VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", [
        ("2026-01-01", N1, N2, 3, 2, 300, 120, 1, 0, 1, 0,
         "2026-01-02 08:00:00", "2026-01-30 23:00:00"),
        ("2026-02-01", N1, N2, 1, 1, 60, 60, 2, 1, 0, 1,
         "2026-02-01 09:00:00", "2026-02-27 10:00:00"),
        ("2026-01-01", N1, OFF1, 5, 0, 600, 0, 0, 0, 0, 0,
         "2026-01-02 08:00:00", "2026-01-20 08:00:00"),
        ("2026-02-01", N3, OFF2, 0, 1, 0, 45, 0, 3, 0, 0,
         "2026-02-02 08:00:00", "2026-02-02 09:00:00"),
    ])


RUN = {
    "run_id": "r20260301T020000Z",
    "started_at": "2026-03-01T02:00:00+00:00",
    "ended_at": "2026-03-01T02:05:00+00:00",
    "outcome": "published",
    "source_dir": "/data/exports/2026-03",
    "snapshot_id": "s20260301T020500000000Z",
    "inputs": [
        {"file": "customers.csv", "entity": "customers", "sha256": "a" * 64, "rows_in": 5,
         "rows_loaded": 4, "rows_quarantined": 1, "unchanged": False},
        {"file": "cdrs-2026-01.csv", "entity": "cdrs", "sha256": "b" * 64, "rows_in": 1,
         "rows_loaded": 1, "rows_quarantined": 0},
    ],
    "quarantine_by_reason": {"unknown customer_type": 1},
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    _fill(con)
    con.close()
    return path


@pytest.fixture(scope="module")
def built(warehouse: Path, tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("snap") / "kg"
    con = duckdb.connect(str(warehouse), read_only=True)
    steps: list[str] = []
    report = build_knowledge_graph(con, store, extra_turtle=[provenance_turtle(RUN)],
                                   progress=lambda label, done, total: steps.append(label))
    con.close()
    assert steps
    return store, report


def _one(graph, query: str):
    rows = list(graph.query(query))
    assert len(rows) == 1, rows
    return rows[0]


def test_report_counts_classes_and_triples(built) -> None:
    store, report = built
    assert report.classes["Customer"] == 4
    assert report.classes["Subscription"] == 4
    assert report.classes["OnNetNumber"] == 4 and report.classes["OffNetNumber"] == 2
    assert report.classes["CallTie"] == 3
    assert report.classes["Operator"] == 3
    graph = open_knowledge_graph(store)
    assert len(graph) == report.triples
    assert report.triples_per_second > 0


def test_census_divides_the_triples_by_class_and_predicate(built) -> None:
    store, report = built
    census = knowledge_graph_census(store)
    assert census.triples == report.triples
    assert census.classes["cc:Customer"] == report.classes["Customer"]
    assert census.classes["cc:CallTie"] == report.classes["CallTie"]
    assert sum(census.predicates.values()) == census.triples
    assert list(census.predicates.values()) == sorted(census.predicates.values(), reverse=True)
    # the triples about each tie are counted under cc:CallTie: type, parties, first contact
    graph = open_knowledge_graph(store)
    tie_triples = _one(graph, "SELECT (COUNT(*) AS ?n) WHERE { ?t a cc:CallTie ; ?p ?o }")[0]
    ties = report.classes["CallTie"]
    assert census.triples_by_class["cc:CallTie"] == int(tie_triples) == 4 * ties
    assert census.predicates["cc:callsWith"] == report.classes["CallTie"]
    # every instance triple belongs to one principal class, the ontology and run to none
    assert sum(census.triples_by_class.values()) < census.triples


def test_sparql_counts_over_published_store(built) -> None:
    store, _ = built
    graph = open_knowledge_graph(store)
    row = _one(graph, """
        SELECT (COUNT(DISTINCT ?c) AS ?customers) (COUNT(DISTINCT ?p) AS ?persons) WHERE {
          { ?c a cc:Customer } UNION { ?p a/rdfs:subClassOf* foaf:Person }
        }""")
    assert (int(row[0]), int(row[1])) == (4, 2)
    row = _one(graph, "SELECT (COUNT(?s) AS ?n) WHERE { ?s a cc:Subscription }")
    assert int(row[0]) == 4
    counts = {str(r[0]): int(r[1]) for r in graph.query(
        "SELECT ?cls (COUNT(?n) AS ?k) WHERE { ?n a ?cls . ?cls rdfs:subClassOf cc:PhoneNumber }"
        " GROUP BY ?cls")}
    assert counts == {str(CC.OnNetNumber): 4, str(CC.OffNetNumber): 2}
    row = _one(graph, "SELECT (COUNT(?t) AS ?n) (COUNT(?w) AS ?links) WHERE "
                      "{ ?t a cc:CallTie ; cc:partyA ?a ; cc:partyB ?b . "
                      "OPTIONAL { ?a cc:callsWith ?w FILTER (?w = ?b) } }")
    assert (int(row[0]), int(row[1])) == (3, 3)
    # the subclass hierarchy comes from the ontology loaded into the same store
    row = _one(graph, "SELECT (COUNT(DISTINCT ?x) AS ?n) "
                      "WHERE { ?x a/rdfs:subClassOf* cc:Product }")
    assert int(row[0]) == 3


def test_call_tie_holds_its_parties_and_first_contact_not_its_figures(built) -> None:
    store, _ = built
    graph = open_knowledge_graph(store)
    tie = tie_iri(N2, N1)
    assert (tie, CC.partyA, number_iri(N1)) in graph
    assert (tie, CC.partyB, number_iri(N2)) in graph
    assert (number_iri(N1), CC.callsWith, number_iri(N2)) in graph
    values = {p.removeprefix(str(CC)): o.toPython() for p, o in graph.predicate_objects(tie)
              if p.startswith(str(CC))}
    # the earliest contact over both months; the figures stay in call_edges, where the
    # ontology says each one is kept
    assert str(values.pop("firstContact")) == "2026-01-02 08:00:00"
    assert set(values) == {"partyA", "partyB"}
    ontology = load_ontology()
    for figure in (CC.calls, CC.callsAB, CC.minutes, CC.smsBA, CC.activeMonths, CC.lastContact):
        assert "call_edges" in str(ontology.value(figure, CC.warehouseColumn)), figure


def test_literals_and_iris_survive_escaping(built) -> None:
    store, _ = built
    graph = open_knowledge_graph(store)
    # oxrdflib hands back simple literals typed xsd:string: compare their text
    assert str(graph.value(customer_iri("C1"), CC.region)) == "Beijing"
    names = {str(o) for o in graph.objects(customer_iri("C1"), FOAF.name)}
    assert names == {TRICKY_NAME}
    assert customer_iri("C/4 x").endswith("customer/C%2F4%20x")
    assert (customer_iri("C/4 x"), CC.gender, Literal("F")) in graph
    row = _one(graph, 'SELECT ?l WHERE { ?c a cc:Campaign ; rdfs:label ?l }')
    assert str(row[0]) == 'Keep "them"'
    channels = {str(r[0]) for r in graph.query(
        "SELECT ?n WHERE { ?c a cc:Campaign ; cc:usesChannel/skos:notation ?n }")}
    assert channels == {"sms", "call_centre"}
    # an interaction's number links only to numbers the warehouse knows
    row = _one(graph, "SELECT (COUNT(?i) AS ?n) WHERE { ?i a cc:Interaction ; cc:number ?x }")
    assert int(row[0]) == 1
    # PII beyond the name, and raw CDRs, stay in the warehouse
    assert not graph.query('ASK { ?s ?p "110101198002030011" }').askAnswer
    assert not any("R-SECRET-1" in str(o) for _, _, o in graph)


def test_provenance_of_the_run_is_queryable(built) -> None:
    store, _ = built
    graph = open_knowledge_graph(store)
    rows = list(graph.query(f"""
        SELECT ?file ?sha ?in ?loaded ?quarantined WHERE {{
          <{snapshot_iri(RUN["snapshot_id"])}> a cc:Snapshot ; prov:wasGeneratedBy ?run .
          ?run a cc:IngestRun ; prov:used ?f .
          ?f cc:fileName ?file ; cc:sha256 ?sha ; cc:rowsIn ?in ; cc:rowsLoaded ?loaded ;
             cc:rowsQuarantined ?quarantined .
        }} ORDER BY ?file"""))
    assert [(str(r[0]), int(r[2]), int(r[3]), int(r[4])) for r in rows] == [
        ("cdrs-2026-01.csv", 1, 1, 0), ("customers.csv", 5, 4, 1)]
    run = run_iri(RUN["run_id"])
    row = _one(graph, "SELECT ?start ?outcome ?n WHERE { ?run prov:startedAtTime ?start ; "
                      "cc:runOutcome ?outcome ; cc:quarantined/cc:rowsQuarantined ?n }"
                      .replace("?run", f"<{run}>"))
    assert str(row[1]) == "published" and int(row[2]) == 1
    assert row[0].toPython().year == 2026


def test_full_and_sampled_shacl_conform(built) -> None:
    store, _ = built
    full = validate_knowledge_graph(store)
    assert full.mode == "full" and full.conforms, full.violations
    assert full.focus_nodes >= 4 + 4 + 6 + 3
    sample = validate_knowledge_graph(store, sample_per_class=2)
    assert sample.mode == "sample" and sample.conforms, sample.violations
    assert 0 < sample.focus_nodes < full.focus_nodes


def test_broken_triple_fails_validation(warehouse: Path, tmp_path: Path) -> None:
    broken = textwrap.dedent(f"""
        @prefix cc: <{CC}> .
        <https://id.callcircle.dev/subscription/S1> cc:status "bogus" .
        <https://id.callcircle.dev/tie/8613800000001/8613800000002> cc:calls "many" .
    """)
    con = duckdb.connect(str(warehouse), read_only=True)
    build_knowledge_graph(con, tmp_path / "kg", extra_turtle=[broken])
    con.close()
    full = validate_knowledge_graph(tmp_path / "kg")
    assert not full.conforms and full.violation_count >= 2
    assert any("subscription/S1" in v and "status" in v for v in full.violations)
    sample = validate_knowledge_graph(tmp_path / "kg", sample_per_class=50)
    assert sample.mode == "sample" and not sample.conforms


def test_read_only_opens_at_once_in_two_graphs_and_two_processes(built) -> None:
    store, _ = built
    first, second = open_knowledge_graph(store), open_knowledge_graph(store)
    query = "SELECT (COUNT(?s) AS ?n) WHERE { ?s a cc:Customer }"
    assert int(_one(first, query)[0]) == int(_one(second, query)[0]) == 4
    code = ("import sys; from graph.knowledge import open_knowledge_graph; "
            "g = open_knowledge_graph(sys.argv[1]); "
            f"print(int(list(g.query({query!r}))[0][0]))")
    other = subprocess.run([sys.executable, "-c", code, str(store)], capture_output=True,
                           text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "4"
    assert int(_one(first, query)[0]) == 4


def test_missing_and_empty_tables_are_skipped(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(WAREHOUSE_DDL)
    con.execute("DROP TABLE call_edges; DROP TABLE bills; DROP TABLE numbers")
    con.execute("INSERT INTO customers (customer_id, customer_type, name, region, join_date) "
                "VALUES ('C9', 'enterprise', 'Solo', 'Xi''an', '2024-01-01')")
    report = build_knowledge_graph(con, tmp_path / "kg")
    con.close()
    assert report.classes == {"Customer": 1}
    assert validate_knowledge_graph(tmp_path / "kg").conforms
    with pytest.raises(FileExistsError):
        build_knowledge_graph(duckdb.connect(), tmp_path / "kg")


def test_a_failing_query_stops_the_build_and_leaves_no_fifo(tmp_path: Path) -> None:
    """DuckDB fails half-way through COPY: its error surfaces, nothing waits forever."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE TABLE products (product_id VARCHAR, included_minutes VARCHAR)")
    con.execute("INSERT INTO products SELECT 'P' || i, CASE WHEN i = 150000 THEN 'lots' "
                "ELSE i::VARCHAR END FROM range(300000) r(i)")
    with pytest.raises(duckdb.ConversionException, match="lots"):
        build_knowledge_graph(con, tmp_path / "kg")
    con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kg", "w.duckdb"]


def test_a_failing_load_stops_duckdb_and_raises_the_loader_error(tmp_path: Path) -> None:
    """The bulk loader rejects the text: DuckDB's writes fail instead of blocking the FIFO."""
    store = ox.Store(str(tmp_path / "kg"))
    with pytest.raises(SyntaxError, match="object of a triple"):
        _copy_into_store(duckdb.connect(), "SELECT '<http://a> <http://b> .' FROM range(300000)",
                         store, tmp_path, lambda _label, _done, _total: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kg"]


def test_rate_on_a_larger_call_graph(tmp_path: Path) -> None:
    """5k ties (≈ 61k triples): prints the rate; asserts only a floor (the machine is shared)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(WAREHOUSE_DDL)
    con.execute("""
        INSERT INTO numbers SELECT '+86138' || lpad(i::VARCHAR, 8, '0'), true, 'China Mobile',
            'S' || i, 'C' || i, DATE '2025-01-01', DATE '2026-01-31' FROM range(5000) r(i);
        INSERT INTO call_edges SELECT DATE '2026-01-01', '+86138' || lpad(i::VARCHAR, 8, '0'),
            '+86138' || lpad(((i + 1) % 5000)::VARCHAR, 8, '0'), i % 7, i % 5, i % 700,
            i % 500, i % 3, i % 2, i % 4, 0, TIMESTAMP '2026-01-01 08:00:00',
            TIMESTAMP '2026-01-31 08:00:00' FROM range(5000) r(i) WHERE i < 4999;
    """)
    report = build_knowledge_graph(con, tmp_path / "kg")
    con.close()
    print(f"\n{report.triples:,} triples in {report.seconds:.2f} s "
          f"({report.triples_per_second:,.0f} triples/s; SQL {report.generate_seconds:.2f} s, "
          f"load {report.load_seconds:.2f} s)")
    assert report.classes["CallTie"] == 4999
    assert report.triples > 4999 * 5 + 5000 * 7  # ties: type, parties, first contact, link
    assert report.triples_per_second > 5_000


def test_example_queries_in_the_guide_run_and_find_rows(built) -> None:
    store, _ = built
    graph = open_knowledge_graph(store)
    guide = (Path(__file__).parent.parent / "docs" / "ontology.md").read_text(encoding="utf-8")
    queries = re.findall(r"```sparql\n(.*?)```", guide, re.S)
    assert len(queries) >= 4
    for query in queries:
        assert list(graph.query(query)), query


NEXT_MONTH = """
INSERT INTO bills VALUES ('B3', 'S1', '2026-02-01', '2026-03-01', NULL, 19, 1, 0, 0, 0, 0,
    21, NULL, 'bills-2026-02.csv', 2);
UPDATE customers SET name = 'Wang Fang', region = 'Tianjin' WHERE customer_id = 'C/4 x';
DELETE FROM payments WHERE payment_id = 'Y2';
INSERT INTO numbers VALUES ('+8613700000000', false, 'China Unicom', NULL, NULL,
    '2026-03-02', '2026-03-03');
UPDATE numbers SET last_seen = '2026-03-31' WHERE msisdn IN ('+8613800000001',
    '+8613800000002');
INSERT INTO call_edges VALUES
    ('2026-03-01', '+8613800000001', '+8613800000002', 4, 0, 200, 0, 0, 2, 1, 0,
     '2026-03-01 08:00:00', '2026-03-30 08:00:00'),
    ('2026-03-01', '+8613700000000', '+8613800000001', 1, 0, 30, 0, 0, 0, 0, 0,
     '2026-03-02 08:00:00', '2026-03-03 08:00:00');
CREATE TABLE churn_events_new AS SELECT * FROM churn_events;
"""


def _lines(store: Path) -> tuple[set[str], int]:
    """A store's triples as N-Triples lines, and how many lines hold a blank node (the
    ontology's owl:unionOf lists: labels differ from store to store)."""
    text = ox.Store.read_only(str(store)).dump(format=ox.RdfFormat.N_TRIPLES,
                                               from_graph=ox.DefaultGraph())
    lines = text.decode("utf-8").splitlines()
    blank = {line for line in lines if "_:" in line}
    return set(lines) - blank, len(blank)


def test_an_update_writes_what_a_full_build_writes(warehouse: Path, built,
                                                   tmp_path: Path) -> None:
    store, _ = built
    before, blank_before = _lines(store)
    changed = tmp_path / "next.duckdb"
    shutil.copyfile(warehouse, changed)
    con = duckdb.connect(str(changed))
    con.execute(NEXT_MONTH)
    full = build_knowledge_graph(con, tmp_path / "full")
    report = update_knowledge_graph(con, tmp_path / "updated", previous_store=store,
                                    previous_warehouse=warehouse)
    con.close()
    full_lines, full_blank = _lines(tmp_path / "full")
    updated_lines, updated_blank = _lines(tmp_path / "updated")
    provenance = {line for line in updated_lines if "/run/" in line or "/source-file/" in line
                  or "/snapshot/" in line or "/quarantine" in line}
    assert provenance  # the previous run's, kept: the full build here wrote none
    assert updated_lines - provenance == full_lines
    assert updated_blank == full_blank == blank_before
    assert report.triples == len(updated_lines) + updated_blank == full.triples + len(provenance)
    assert 0 < report.removed < len(before) and 0 < report.added < full.triples
    assert report.classes == full.classes
    # what changed went out: the old name, the deleted payment, the tie's old figures
    assert not any("Wang\"" in line or "/payment/Y2>" in line for line in updated_lines)
    assert any("Wang Fang" in line for line in updated_lines)
    # the known number of an unchanged interaction row, now that the number is known
    assert any("/interaction/I3>" in line and "number/8613700000000>" in line
               for line in updated_lines)
    # the previous store is as it was
    assert _lines(store) == (before, blank_before)
