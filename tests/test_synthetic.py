"""The synthetic operator: contract shape, integrity, determinism and planted realism."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pytest
from phonenumbers import carrier

from ingest.contract import ENTITIES, GROUND_TRUTH_DIR
from ingest.synthetic import generate_operator

SUBSCRIBERS, MONTHS, SEED = 2000, 2, 11


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("operator")
    generate_operator(out, subscribers=SUBSCRIBERS, months=MONTHS, seed=SEED, progress=False)
    return out


def read(source: Path, entity: str) -> pd.DataFrame:
    """All files of an entity as text, empty cells as empty strings."""
    files = sorted(source.glob(f"{entity}.csv")) + sorted(source.glob(f"{entity}-*.csv"))
    assert files, entity
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False, encoding="utf-8")
                      for f in files], ignore_index=True)


def files_of(source: Path, entity: str) -> Iterator[Path]:
    yield from sorted(source.glob(f"{entity}.csv"))
    yield from sorted(source.glob(f"{entity}-*.csv"))


def e164(values: pd.Series) -> pd.Series:
    """Normalise the written forms the generator uses to E.164 (for the checks only)."""
    digits = values.str.replace(r"[ +]", "", regex=True)
    digits = digits.where(~digits.str.startswith("0"), "86" + digits.str[1:])
    digits = digits.where(digits.str.startswith("86"), "86" + digits)
    return "+" + digits


@pytest.fixture(scope="module")
def cdrs(source: Path) -> pd.DataFrame:
    frame = read(source, "cdrs")
    frame["a"] = e164(frame["caller"])
    frame["b"] = e164(frame["callee"])
    frame["time"] = pd.to_datetime(frame["start_time"], format="%Y-%m-%d %H:%M:%S")
    return frame


@pytest.fixture(scope="module")
def subscriptions(source: Path) -> pd.DataFrame:
    return read(source, "subscriptions")


@pytest.fixture(scope="module")
def truth(source: Path) -> dict[str, pd.DataFrame]:
    folder = source / GROUND_TRUTH_DIR
    return {name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
            for name in ("churn_causes", "circles", "campaign_effects")}


# -- contract shape -----------------------------------------------------------------------


def test_every_entity_has_its_files_with_the_exact_columns(source: Path) -> None:
    for name, entity in ENTITIES.items():
        files = list(files_of(source, name))
        assert len(files) == (MONTHS if entity.monthly else 1), name
        for path in files:
            header = path.read_text(encoding="utf-8").split("\n", 1)[0]
            assert tuple(header.split(",")) == entity.column_names, path.name
    expected = {f"{n}.csv" for n, e in ENTITIES.items() if not e.monthly} | {
        f"{n}-2026-0{m}.csv" for n, e in ENTITIES.items() if e.monthly for m in (1, 2)}
    assert {p.name for p in source.glob("*.csv")} == expected
    truth = {p.name for p in (source / GROUND_TRUTH_DIR).iterdir()}
    assert truth == {"churn_causes.csv", "circles.csv", "campaign_effects.csv", "params.json"}


PATTERNS = {
    "date": r"\d{4}-\d{2}-\d{2}",
    "timestamp": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "month": r"\d{4}-\d{2}",
    "bool": r"true|false",
    "int": r"\d+",
    "decimal": r"\d+(\.\d+)?",
}


def test_values_parse_as_their_contract_types(source: Path) -> None:
    for name, entity in ENTITIES.items():
        frame = read(source, name)
        assert len(frame) > 0, name
        for column in entity.columns:
            values = frame[column.name]
            present = values[values != ""]
            if column.required:
                assert len(present) == len(values), (name, column.name, "missing values")
            if column.kind in PATTERNS:
                bad = present[~present.str.fullmatch(PATTERNS[column.kind])]
                assert bad.empty, (name, column.name, bad.head().tolist())
            if column.kind in ("date", "timestamp"):
                pd.to_datetime(present, format="%Y-%m-%d" if column.kind == "date"
                               else "%Y-%m-%d %H:%M:%S")
            if column.kind == "enum":
                assert set(present) <= set(column.values), (name, column.name)
            if column.kind == "list":
                items = set(";".join(present).split(";"))
                assert items <= set(column.values), (name, column.name)
            if column.minimum is not None:
                assert (present.astype(float) >= column.minimum).all(), (name, column.name)


def test_keys_are_unique_and_references_resolve(source: Path) -> None:
    frames = {name: read(source, name) for name in ENTITIES}
    for name, entity in ENTITIES.items():
        frame = frames[name]
        assert not frame.duplicated(list(entity.key)).any(), name
        for column in entity.columns:
            if column.references:
                target, target_column = column.references.split(".")
                values = frame[column.name]
                values = values[values != ""]
                missing = set(values) - set(frames[target][target_column])
                assert not missing, (name, column.name, sorted(missing)[:5])
    for name, entity in ENTITIES.items():
        for reason, _rule in entity.sql_checks:
            frame = frames[name]
            if "due_date" in reason:
                due = frame[frame.due_date != ""]
                assert (due.due_date >= due.issue_date).all()
            elif name == "campaigns" and "end_date" in reason:
                assert (frame.end_date >= frame.start_date).all()
            elif name == "subscriptions":
                ended = frame[frame.end_date != ""]
                assert (ended.end_date >= ended.start_date).all()


def test_text_is_gbk_friendly_and_never_needs_quoting(source: Path) -> None:
    for path in source.glob("*.csv"):
        text = path.read_text(encoding="utf-8")
        text.encode("gbk")
        assert '"' not in text, path.name
        width = text.split("\n", 1)[0].count(",")
        assert all(line.count(",") == width for line in text.splitlines()[:5000]), path.name


def test_every_phone_number_is_valid_and_operators_are_told_apart(
        source: Path, cdrs: pd.DataFrame, subscriptions: pd.DataFrame) -> None:
    raw = pd.concat([cdrs.caller, cdrs.callee]).unique()
    assert any(not n.startswith("+") for n in raw), "CDRs should mix written forms"
    assert any(" " in n for n in raw) and any(n.startswith("86") for n in raw)
    for number in raw:
        parsed = phonenumbers.parse(number, "CN")
        assert phonenumbers.is_valid_number(parsed), number
    assert subscriptions.msisdn.str.fullmatch(r"\+861\d{10}").all()
    for number in subscriptions.msisdn:
        assert carrier.name_for_number(phonenumbers.parse(number), "en") == "China Mobile"
    off_net = set(pd.concat([cdrs.a, cdrs.b])) - set(subscriptions.msisdn)
    names = {carrier.name_for_number(phonenumbers.parse(n), "en") for n in off_net}
    assert {"China Unicom", "China Telecom"} <= names
    for entity in ("data_usage", "interactions", "campaign_contacts"):
        numbers = read(source, entity).msisdn
        assert numbers[numbers != ""].isin(subscriptions.msisdn).all(), entity


# -- determinism ------------------------------------------------------------------------


def _digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "params.json"}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_operator(tmp_path / name, subscribers=300, months=1, seed=seed,
                          progress=False)
        runs.append(_digest(tmp_path / name))
    assert runs[0] == runs[1]
    assert runs[0].keys() == runs[2].keys()
    assert runs[0]["cdrs-2026-01.csv"] != runs[2]["cdrs-2026-01.csv"]
    params = json.loads((tmp_path / "a" / GROUND_TRUTH_DIR / "params.json").read_text())
    assert params["seed"] == 3 and params["subscribers"] == 300


# -- realism ------------------------------------------------------------------------------


def test_most_calls_stay_inside_planted_circles(cdrs: pd.DataFrame,
                                                truth: dict[str, pd.DataFrame]) -> None:
    circle = truth["circles"].set_index("msisdn").circle_id
    same = cdrs.a.map(circle).eq(cdrs.b.map(circle)) & cdrs.a.isin(circle.index)
    assert same.mean() > 0.6


def test_circle_sizes_are_heavy_tailed_with_all_three_kinds(truth: dict[str, pd.DataFrame]
                                                            ) -> None:
    circles = truth["circles"]
    sizes = circles.groupby("circle_id").size()
    assert sizes.max() / sizes.median() >= 8
    assert set(circles.circle_kind) == {"family", "work", "friends"}


def test_off_net_contacts_are_a_minority_but_present(cdrs: pd.DataFrame,
                                                     subscriptions: pd.DataFrame) -> None:
    on = set(subscriptions.msisdn)
    a_on, b_on = cdrs.a.isin(on), cdrs.b.isin(on)
    assert (a_on | b_on).all(), "every record has an on-net party"
    share = (~(a_on & b_on)).mean()
    assert 0.2 < share < 0.6, share


def test_daily_and_weekly_rhythms(cdrs: pd.DataFrame) -> None:
    hour = cdrs.time.dt.hour
    night = ((hour >= 22) | (hour < 6)).mean()
    assert 0.01 < night < 0.5 * (1 - night)
    per_day = cdrs.groupby(cdrs.time.dt.date).size()
    days = pd.to_datetime(pd.Series(per_day.index))
    weekend = days.dt.day_of_week.ge(5).to_numpy()
    work_hours = cdrs[(hour >= 9) & (hour < 17)]
    office = work_hours.groupby(work_hours.time.dt.date).size().reindex(per_day.index).to_numpy()
    assert office[~weekend].mean() > 1.05 * office[weekend].mean()
    assert (cdrs.event_type == "sms").mean() > 0.05
    assert (cdrs.roaming == "true").mean() > 0.001
    voice = cdrs[cdrs.event_type == "voice"].duration_s.astype(int)
    assert voice.max() > 20 * voice.median()


def test_prepaid_arpu_is_below_postpaid(source: Path, subscriptions: pd.DataFrame) -> None:
    bills = read(source, "bills").merge(subscriptions[["subscription_id", "product_id"]])
    products = read(source, "products").set_index("product_id").payment_type
    bills["pay"] = bills.product_id.map(products)
    arpu = bills.assign(total=bills.total_amount.astype(float)).groupby("pay").total.mean()
    assert arpu["prepaid"] < 0.7 * arpu["postpaid"], arpu.to_dict()
    arrears = bills[bills.arrears != ""].arrears.astype(float)
    assert (arrears > 0).any()
    payments = read(source, "payments")
    assert (payments.bill_id == "").any() and (payments.bill_id != "").any()


def test_churn_rate_causes_and_activity(source: Path, cdrs: pd.DataFrame,
                                        subscriptions: pd.DataFrame,
                                        truth: dict[str, pd.DataFrame]) -> None:
    events = read(source, "churn_events")
    causes = truth["churn_causes"]
    assert len(events) == len(causes)
    assert set(events.subscription_id) == set(causes.subscription_id)
    monthly = events.groupby(events.churn_date.str[:7]).size() / len(subscriptions)
    assert len(monthly) == MONTHS
    assert ((monthly > 0.01) & (monthly < 0.045)).all(), monthly.to_dict()
    assert set(causes.cause) == {"price_plan_mismatch", "service_complaints", "arrears",
                                 "competitor_offer", "contagion"}
    kinds = events.merge(causes, on="subscription_id")
    assert (kinds[kinds.cause == "arrears"].churn_type == "non_payment").all()
    ported = kinds[kinds.churn_type == "port_out"]
    assert set(ported.recipient_operator) <= {"China Unicom", "China Telecom"}
    # nothing after leaving: churned numbers make no calls and use no data afterwards
    left = causes.set_index("msisdn").churn_date
    after_a = cdrs.a.map(left).fillna("9999") <= cdrs.start_time.str[:10]
    after_b = cdrs.b.map(left).fillna("9999") <= cdrs.start_time.str[:10]
    assert not (after_a | after_b).any()
    terminated = subscriptions[subscriptions.status == "terminated"]
    assert set(terminated.subscription_id) == set(causes.subscription_id)


def test_contagion_churners_follow_a_circle_member_who_left(truth: dict[str, pd.DataFrame]
                                                            ) -> None:
    causes = truth["churn_causes"].merge(truth["circles"], on="msisdn")
    first_left = causes.groupby("circle_id").churn_date.min()
    contagion = causes[causes.cause == "contagion"]
    assert len(contagion) > 0
    assert (contagion.circle_id.map(first_left) < contagion.churn_date).all()


def test_complaints_rise_before_service_churn(source: Path, truth: dict[str, pd.DataFrame]
                                             ) -> None:
    interactions = read(source, "interactions")
    complaints = interactions[interactions.category.isin(["complaint", "technical"])]
    per_line = complaints.groupby("msisdn").size()
    causes = truth["churn_causes"]
    service = causes[causes.cause == "service_complaints"].msisdn
    others = set(read(source, "subscriptions").msisdn) - set(causes.msisdn)
    rate_service = per_line.reindex(service).fillna(0).mean()
    rate_others = per_line.reindex(list(others)).fillna(0).mean()
    assert rate_service > 3 * rate_others
    assert set(interactions.channel) == {"store", "call_centre", "web", "app", "sms",
                                         "account_manager"}


def test_planted_campaign_uplift_shows_in_the_responses(source: Path,
                                                        truth: dict[str, pd.DataFrame]) -> None:
    effects = truth["campaign_effects"]
    assert (effects.planted_response_uplift.astype(float) > 0).all()
    assert (effects.planted_churn_hazard_reduction.astype(float) > 0).any()
    contacts = read(source, "campaign_contacts")
    responses = read(source, "campaign_responses")
    accepted = set(responses[responses.response == "accepted"].contact_id)
    contacts["accepted"] = contacts.contact_id.isin(accepted)
    rates = contacts.groupby("contact_group").accepted.mean()
    assert rates["treatment"] > rates["control"]
    campaigns = read(source, "campaigns")
    share = contacts.groupby("campaign_id").contact_group.apply(lambda g: (g == "control").mean())
    planted = campaigns.set_index("campaign_id").control_share.astype(float)
    assert (abs(share - planted.reindex(share.index)) < 0.15).all()
    control = contacts[contacts.contact_group == "control"]
    assert (control.channel == "").all() and (control.contacted_at == "").all()


def test_without_contagion_no_line_leaves_by_contagion(tmp_path: Path) -> None:
    generate_operator(tmp_path, subscribers=1500, months=2, seed=SEED, contagion=False,
                      progress=False)
    causes = pd.read_csv(tmp_path / GROUND_TRUTH_DIR / "churn_causes.csv", dtype=str)
    assert len(causes) > 0
    assert "contagion" not in set(causes.cause)


def test_customers_look_like_a_chinese_operators(source: Path) -> None:
    customers = read(source, "customers")
    kinds = customers.customer_type.value_counts()
    assert kinds["individual"] > kinds.get("enterprise", 0) > 0
    people = customers[customers.customer_type == "individual"]
    assert people.name.str.fullmatch(r"[\u4e00-\u9fff]{2,4}").all()
    assert people.id_number.str.fullmatch(r"\d{17}[\dX]").all()
    assert customers.region.str.endswith("区").all()
    lines = read(source, "subscriptions").groupby("customer_id").size()
    assert lines.max() >= 3
    assert re.fullmatch(r"C\d{8}", customers.customer_id.iloc[0])
    assert np.isin(customers.do_not_contact, ["true", "false"]).all()
