"""The synthetic operator: contract shape, integrity, determinism and planted realism.

Files are read back with DuckDB using the contract's types (a value that does not
parse fails the read), then checked with SQL.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import phonenumbers
import pytest
from phonenumbers import carrier
from rich.console import Console

from ingest.contract import ENTITIES, GROUND_TRUTH_DIR
from ingest.synthetic import generate_operator

SUBSCRIBERS, MONTHS, SEED = 2000, 2, 11
DUCK_TYPES = {"id": "VARCHAR", "text": "VARCHAR", "enum": "VARCHAR", "list": "VARCHAR",
              "phone": "VARCHAR", "month": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP",
              "int": "BIGINT", "decimal": "DOUBLE", "bool": "BOOLEAN"}


def e164(column: str) -> str:
    """SQL turning the written forms the generator uses into E.164 (for the checks only)."""
    n = f"replace(replace({column}, ' ', ''), '+', '')"
    return (f"('+' || CASE WHEN starts_with({n}, '0') THEN '86' || {n}[2:] "
            f"WHEN starts_with({n}, '86') THEN {n} ELSE '86' || {n} END)")


def files(source: Path, entity: str) -> list[str]:
    return [str(p) for p in sorted(source.glob(f"{entity}.csv"))
            + sorted(source.glob(f"{entity}-*.csv"))]


def load(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """Every entity as a typed table; ground truth as text tables."""
    for name, entity in ENTITIES.items():
        columns = ", ".join(f"'{c.name}': '{DUCK_TYPES[c.kind]}'" for c in entity.columns)
        con.execute(f"""
            CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv({files(source, name)},
                header = true, columns = {{{columns}}}, auto_detect = false, quote = '',
                escape = '', dateformat = '%Y-%m-%d', timestampformat = '%Y-%m-%d %H:%M:%S')""")
    for name in ("churn_causes", "circles", "campaign_effects"):
        path = source / GROUND_TRUTH_DIR / f"{name}.csv"
        con.execute(f"CREATE OR REPLACE TABLE truth_{name} AS SELECT * FROM read_csv('{path}', "
                    "header = true, all_varchar = true)")
    con.execute(f"""CREATE OR REPLACE TABLE calls AS
        SELECT *, {e164('caller')} AS a, {e164('callee')} AS b FROM cdrs""")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("operator")
    generate_operator(out, subscribers=SUBSCRIBERS, months=MONTHS, seed=SEED, progress=False)
    return out


@pytest.fixture(scope="module")
def db(source: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load(con, source)
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchall()[0]
    return row[0] if len(row) == 1 else row


# -- contract shape -----------------------------------------------------------------------


def test_every_entity_has_its_files_with_the_exact_columns(source: Path) -> None:
    for name, entity in ENTITIES.items():
        paths = files(source, name)
        assert len(paths) == (MONTHS if entity.monthly else 1), name
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                assert tuple(handle.readline().rstrip("\n").split(",")) == entity.column_names
    expected = {f"{n}.csv" for n, e in ENTITIES.items() if not e.monthly} | {
        f"{n}-2026-0{m}.csv" for n, e in ENTITIES.items() if e.monthly for m in (1, 2)}
    assert {p.name for p in source.glob("*.csv")} == expected
    truth = {p.name for p in (source / GROUND_TRUTH_DIR).iterdir()}
    assert truth == {"churn_causes.csv", "circles.csv", "campaign_effects.csv", "params.json"}


def test_values_have_their_contract_types_and_ranges(db: duckdb.DuckDBPyConnection) -> None:
    for name, entity in ENTITIES.items():
        assert one(db, f"SELECT count(*) FROM {name}") > 0, name
        for column in entity.columns:
            col = column.name
            if column.required:
                assert one(db, f"SELECT count(*) FROM {name} WHERE {col} IS NULL") == 0, (name, col)
            if column.kind == "enum":
                allowed = ", ".join(f"'{v}'" for v in column.values)
                bad = one(db, f"SELECT count(*) FROM {name} WHERE {col} NOT IN ({allowed})")
                assert bad == 0, (name, col)
            if column.kind == "list":
                allowed = ", ".join(f"'{v}'" for v in column.values)
                bad = one(db, f"""SELECT count(*) FROM (SELECT unnest(string_split({col}, ';'))
                                  AS item FROM {name}) WHERE item NOT IN ({allowed})""")
                assert bad == 0, (name, col)
            if column.kind == "month":
                bad = one(db, f"""SELECT count(*) FROM {name}
                                  WHERE NOT regexp_full_match({col}, '\\d{{4}}-\\d{{2}}')""")
                assert bad == 0, (name, col)
            if column.minimum is not None:
                bad = one(db, f"SELECT count(*) FROM {name} WHERE {col} < {column.minimum}")
                assert bad == 0, (name, col)


def test_keys_are_unique_and_references_resolve(db: duckdb.DuckDBPyConnection) -> None:
    for name, entity in ENTITIES.items():
        key = ", ".join(entity.key)
        dupes = one(db, f"SELECT count(*) FROM (SELECT {key} FROM {name} GROUP BY ALL "
                        "HAVING count(*) > 1)")
        assert dupes == 0, name
        for column in entity.columns:
            if column.references:
                target, target_column = column.references.split(".")
                missing = one(db, f"""SELECT count(*) FROM {name} WHERE {column.name} IS NOT NULL
                    AND {column.name} NOT IN (SELECT {target_column} FROM {target})""")
                assert missing == 0, (name, column.name)
        for reason, rule in entity.sql_checks:
            assert one(db, f"SELECT count(*) FROM {name} WHERE NOT ({rule})") == 0, reason


def test_text_is_gbk_friendly_and_never_needs_quoting(source: Path) -> None:
    for path in source.glob("*.csv"):
        if path.stat().st_size > 5_000_000:
            continue
        text = path.read_text(encoding="utf-8")
        text.encode("gbk")
        assert '"' not in text, path.name


def test_every_phone_number_is_valid_and_operators_are_told_apart(
        db: duckdb.DuckDBPyConnection) -> None:
    raw = [r[0] for r in db.execute(
        "SELECT DISTINCT caller FROM cdrs UNION SELECT DISTINCT callee FROM cdrs").fetchall()]
    assert any(not n.startswith("+") for n in raw), "CDRs should mix written forms"
    assert any(" " in n for n in raw) and any(n.startswith("86") for n in raw)
    for number in raw:
        parsed = phonenumbers.parse(number, "CN")
        assert phonenumbers.is_valid_number(parsed), number
    ours = [r[0] for r in db.execute("SELECT msisdn FROM subscriptions").fetchall()]
    assert all(n.startswith("+861") and len(n) == 14 for n in ours)
    for number in ours:
        assert carrier.name_for_number(phonenumbers.parse(number), "en") == "China Mobile"
    off_net = [r[0] for r in db.execute("""SELECT DISTINCT n FROM (SELECT a AS n FROM calls UNION
        SELECT b FROM calls) WHERE n NOT IN (SELECT msisdn FROM subscriptions)""").fetchall()]
    names = {carrier.name_for_number(phonenumbers.parse(n), "en") for n in off_net}
    assert {"China Unicom", "China Telecom"} <= names
    for entity in ("data_usage", "interactions", "campaign_contacts"):
        stray = one(db, f"""SELECT count(*) FROM {entity} WHERE msisdn IS NOT NULL
                            AND msisdn NOT IN (SELECT msisdn FROM subscriptions)""")
        assert stray == 0, entity


# -- determinism ------------------------------------------------------------------------


def _digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    runs, reports = [], []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        reports.append(generate_operator(tmp_path / name, subscribers=300, months=1, seed=seed,
                                         progress=False))
        runs.append(_digest(tmp_path / name))
    assert runs[0] == runs[1]
    assert runs[0].keys() == runs[2].keys()
    assert runs[0]["cdrs-2026-01.csv"] != runs[2]["cdrs-2026-01.csv"]
    params = json.loads((tmp_path / "a" / GROUND_TRUTH_DIR / "params.json").read_text())
    assert params["seed"] == 3 and params["subscribers"] == 300
    for name, content in runs[0].items():
        if name.endswith(".csv"):
            assert reports[0].rows[name] == content.count(b"\n") - 1, name
    Console(file=io.StringIO()).print(reports[0].summary())


# -- realism ------------------------------------------------------------------------------


def test_most_calls_stay_inside_planted_circles(db: duckdb.DuckDBPyConnection) -> None:
    share = one(db, """SELECT avg(CASE WHEN ca.circle_id = cb.circle_id THEN 1 ELSE 0 END)
        FROM calls LEFT JOIN truth_circles ca ON ca.msisdn = a
        LEFT JOIN truth_circles cb ON cb.msisdn = b""")
    assert share > 0.6


def test_circle_sizes_are_heavy_tailed_with_all_three_kinds(db: duckdb.DuckDBPyConnection
                                                            ) -> None:
    biggest, median = one(db, """SELECT max(n), median(n) FROM
        (SELECT count(*) AS n FROM truth_circles GROUP BY circle_id)""")
    assert biggest / median >= 8
    kinds = {r[0] for r in db.execute("SELECT DISTINCT circle_kind FROM truth_circles").fetchall()}
    assert kinds == {"family", "work", "friends"}


def test_off_net_contacts_are_a_minority_but_present(db: duckdb.DuckDBPyConnection) -> None:
    on_a, on_b = ("(SELECT msisdn FROM subscriptions)",) * 2
    neither, off = one(db, f"""SELECT avg(CASE WHEN a NOT IN {on_a} AND b NOT IN {on_b}
        THEN 1 ELSE 0 END), avg(CASE WHEN a IN {on_a} AND b IN {on_b} THEN 0 ELSE 1 END)
        FROM calls""")
    assert neither == 0, "every record has an on-net party"
    assert 0.2 < off < 0.6, off


def test_daily_and_weekly_rhythms(db: duckdb.DuckDBPyConnection) -> None:
    night = one(db, """SELECT avg(CASE WHEN hour(start_time) >= 22 OR hour(start_time) < 6
                       THEN 1 ELSE 0 END) FROM cdrs""")
    assert 0.01 < night < 0.5 * (1 - night)
    workday, weekend = one(db, """SELECT avg(n) FILTER (WHERE dow BETWEEN 1 AND 5),
        avg(n) FILTER (WHERE dow IN (0, 6)) FROM (SELECT CAST(start_time AS DATE) AS day,
        dayofweek(CAST(start_time AS DATE)) AS dow, count(*) AS n FROM cdrs
        WHERE hour(start_time) BETWEEN 9 AND 16 GROUP BY ALL)""")
    assert workday > 1.05 * weekend
    sms, roaming = one(db, """SELECT avg(CASE WHEN event_type = 'sms' THEN 1 ELSE 0 END),
                              avg(CASE WHEN roaming THEN 1 ELSE 0 END) FROM cdrs""")
    assert 0.05 < sms < 0.5 and roaming > 0.001
    longest, median = one(db, """SELECT max(duration_s), median(duration_s) FROM cdrs
                                 WHERE event_type = 'voice'""")
    assert longest > 20 * median
    per_day = one(db, "SELECT count(*) / count(DISTINCT CAST(start_time AS DATE)) FROM cdrs")
    assert 1.5 * SUBSCRIBERS < per_day < 4 * SUBSCRIBERS


def test_prepaid_arpu_is_below_postpaid_and_arrears_exist(db: duckdb.DuckDBPyConnection
                                                          ) -> None:
    arpu = dict(db.execute("""SELECT p.payment_type, avg(b.total_amount) FROM bills b
        JOIN subscriptions s USING (subscription_id) JOIN products p USING (product_id)
        GROUP BY ALL""").fetchall())
    assert arpu["prepaid"] < 0.7 * arpu["postpaid"], arpu
    assert one(db, "SELECT count(*) FROM bills WHERE arrears > 0") > 0
    top_ups, bill_payments = one(db, """SELECT count(*) FILTER (WHERE bill_id IS NULL),
        count(*) FILTER (WHERE bill_id IS NOT NULL) FROM payments""")
    assert top_ups > 0 and bill_payments > 0
    late = one(db, """SELECT count(*) FROM payments p JOIN bills b USING (bill_id)
                      WHERE CAST(p.paid_at AS DATE) > b.due_date""")
    assert late > 0


def test_churn_rate_causes_and_activity(db: duckdb.DuckDBPyConnection) -> None:
    rates = [r[0] for r in db.execute(f"""SELECT count(*) / {SUBSCRIBERS} FROM churn_events
                                          GROUP BY strftime(churn_date, '%Y-%m')""").fetchall()]
    assert len(rates) == MONTHS and all(0.01 < r < 0.045 for r in rates), rates
    causes = {r[0] for r in db.execute("SELECT DISTINCT cause FROM truth_churn_causes").fetchall()}
    assert causes == {"price_plan_mismatch", "service_complaints", "arrears",
                      "competitor_offer", "contagion"}
    assert one(db, """SELECT count(*) FROM churn_events FULL JOIN truth_churn_causes t
                      USING (subscription_id) WHERE t.cause IS NULL OR event_id IS NULL""") == 0
    wrong = one(db, """SELECT count(*) FROM churn_events JOIN truth_churn_causes USING
        (subscription_id) WHERE (cause = 'arrears') <> (churn_type = 'non_payment')""")
    assert wrong == 0
    recipients = {r[0] for r in db.execute("""SELECT DISTINCT recipient_operator FROM churn_events
                                              WHERE churn_type = 'port_out'""").fetchall()}
    assert recipients == {"China Unicom", "China Telecom"}
    assert one(db, """SELECT count(*) FROM subscriptions WHERE status = 'terminated'""") == one(
        db, "SELECT count(*) FROM churn_events")
    after = one(db, """SELECT count(*) FROM calls JOIN truth_churn_causes t
        ON t.msisdn IN (a, b) WHERE CAST(start_time AS DATE) >= CAST(t.churn_date AS DATE)""")
    assert after == 0, "no calls after leaving"
    # activity falls before leaving: last 2 weeks vs the 4 weeks before, churners vs stayers
    drop = one(db, """WITH per AS (SELECT a AS n, CAST(start_time AS DATE) AS d FROM calls
        UNION ALL SELECT b, CAST(start_time AS DATE) FROM calls), churner AS (
        SELECT msisdn, CAST(churn_date AS DATE) AS left_on FROM truth_churn_causes
        WHERE CAST(churn_date AS DATE) >= DATE '2026-02-14')
        SELECT sum(CASE WHEN d >= left_on - 14 THEN 1 ELSE 0 END) / 14.0
             / (sum(CASE WHEN d < left_on - 14 AND d >= left_on - 42 THEN 1 ELSE 0 END) / 28.0)
        FROM per JOIN churner ON per.n = churner.msisdn""")
    assert drop < 0.85


def test_contagion_churners_follow_a_circle_member_who_left(db: duckdb.DuckDBPyConnection
                                                            ) -> None:
    total, followed = one(db, """WITH left_lines AS (SELECT t.msisdn, t.cause, t.churn_date,
        c.circle_id FROM truth_churn_causes t JOIN truth_circles c USING (msisdn))
        SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM left_lines o
            WHERE o.circle_id = l.circle_id AND o.churn_date < l.churn_date))
        FROM left_lines l WHERE cause = 'contagion'""")
    assert total > 0 and followed == total


def test_complaints_rise_before_service_churn(db: duckdb.DuckDBPyConnection) -> None:
    service, others = one(db, """WITH per AS (SELECT s.msisdn, count(i.interaction_id) AS n
        FROM subscriptions s LEFT JOIN interactions i ON i.msisdn = s.msisdn
        AND i.category IN ('complaint', 'technical') GROUP BY ALL)
        SELECT avg(n) FILTER (WHERE t.cause = 'service_complaints'),
               avg(n) FILTER (WHERE t.cause IS NULL)
        FROM per LEFT JOIN truth_churn_causes t USING (msisdn)""")
    assert service > 3 * others
    channels = {r[0] for r in db.execute("SELECT DISTINCT channel FROM interactions").fetchall()}
    assert channels == {"store", "call_centre", "web", "app", "sms", "account_manager"}
    managed = one(db, """SELECT avg(CASE WHEN c.customer_type = 'individual' THEN 1 ELSE 0 END)
        FROM interactions i JOIN customers c USING (customer_id)
        WHERE i.channel = 'account_manager'""")
    assert managed == 0, "account managers serve enterprise and group customers"


def test_planted_campaign_uplift_shows_in_the_responses(db: duckdb.DuckDBPyConnection) -> None:
    assert one(db, """SELECT min(CAST(planted_response_uplift AS DOUBLE))
                      FROM truth_campaign_effects""") > 0
    assert one(db, """SELECT max(CAST(planted_churn_hazard_reduction AS DOUBLE))
                      FROM truth_campaign_effects""") > 0
    treatment, control = one(db, """WITH acc AS (SELECT c.contact_group, EXISTS (SELECT 1
        FROM campaign_responses r WHERE r.contact_id = c.contact_id AND r.response = 'accepted')
        AS accepted FROM campaign_contacts c)
        SELECT avg(accepted::INT) FILTER (WHERE contact_group = 'treatment'),
               avg(accepted::INT) FILTER (WHERE contact_group = 'control') FROM acc""")
    assert treatment > control
    off = one(db, """SELECT max(abs(share - control_share)) FROM campaigns JOIN (
        SELECT campaign_id, avg((contact_group = 'control')::INT) AS share
        FROM campaign_contacts GROUP BY ALL) USING (campaign_id)""")
    assert off < 0.15
    assert one(db, """SELECT count(*) FROM campaign_contacts WHERE contact_group = 'control'
                      AND (channel IS NOT NULL OR contacted_at IS NOT NULL)""") == 0
    assert one(db, """SELECT count(*) FROM campaign_contacts k JOIN customers c
                      USING (customer_id) WHERE c.do_not_contact""") == 0


def test_without_contagion_no_line_leaves_by_contagion(tmp_path: Path) -> None:
    generate_operator(tmp_path, subscribers=1500, months=2, seed=SEED, contagion=False,
                      progress=False)
    con = duckdb.connect()
    causes = con.execute(f"""SELECT cause, count(*) FROM read_csv(
        '{tmp_path / GROUND_TRUTH_DIR / "churn_causes.csv"}') GROUP BY ALL""").fetchall()
    assert causes and "contagion" not in dict(causes)
    params = json.loads((tmp_path / GROUND_TRUTH_DIR / "params.json").read_text())
    assert params["contagion"] is False


def test_customers_look_like_a_chinese_operators(db: duckdb.DuckDBPyConnection) -> None:
    kinds = dict(db.execute("SELECT customer_type, count(*) FROM customers GROUP BY ALL")
                 .fetchall())
    assert kinds["individual"] > kinds["enterprise"] > 0
    bad_names = one(db, """SELECT count(*) FROM customers WHERE customer_type = 'individual'
        AND NOT (regexp_full_match(name, '[\u4e00-\u9fff]{2,4}')
                 AND regexp_full_match(id_number, '\\d{17}[\\dX]'))""")
    assert bad_names == 0
    assert one(db, "SELECT count(*) FROM customers WHERE NOT ends_with(region, '区')") == 0
    assert one(db, """SELECT max(n) FROM (SELECT count(*) AS n FROM subscriptions
                      GROUP BY customer_id)""") >= 3
    payment_types = {r[0] for r in db.execute("""SELECT DISTINCT payment_type FROM
        subscriptions JOIN products USING (product_id)""").fetchall()}
    assert payment_types == {"prepaid", "postpaid"}
