"""A realistic synthetic operator: a China Mobile city branch's exports, with answers.

``generate_operator`` writes a source directory in the contract (``ingest.contract``)
and, beside it, ``ground-truth/``: why each line left, the planted call circles, the
planted campaign effects and the settings. Evaluations read the ground truth; ingest
never does. Same seed, same bytes. See ``docs/synthetic-operator.md``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.contract import ENTITIES, GROUND_TRUTH_DIR
from ingest.synthetic import places
from ingest.synthetic.render import MonthWriter
from ingest.synthetic.sink import CsvSink, dates, ids, money, timestamps
from ingest.synthetic.story import CAUSES, Campaign, Story, tell_story
from ingest.synthetic.world import CIRCLE_KINDS, PRODUCTS, Settings, World, build_world

__all__ = ["GenerationReport", "Settings", "generate_operator"]


@dataclass
class GenerationReport:
    """What was written, how many rows, and how long each stage took."""

    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def cdr_rows(self) -> int:
        return sum(v for k, v in self.rows.items() if k.startswith("cdrs-"))

    def summary(self) -> Table:
        """Rows per entity (monthly files summed) and the time taken."""
        table = Table(title=f"synthetic operator → {self.out_dir}  ({self.seconds:.1f} s)")
        table.add_column("file")
        table.add_column("files", justify="right")
        table.add_column("rows", justify="right")
        table.caption = " · ".join(f"{k} {v:.1f} s" for k, v in self.stage_seconds.items())
        totals: dict[str, list[int]] = {}
        for name, rows in self.rows.items():
            key = name if "/" in name else re.sub(r"(-\d{4}-\d{2})?\.csv$", "", name)
            files_rows = totals.setdefault(key, [0, 0])
            files_rows[0] += 1
            files_rows[1] += rows
        for entity, (files, rows) in totals.items():
            table.add_row(entity, str(files), f"{rows:,}")
        return table


def generate_operator(out_dir: Path, *, subscribers: int, months: int, seed: int,
                      start_month: str = "2026-01", contagion: bool = True,
                      progress: bool = True, **knobs: Any) -> GenerationReport:
    """Write ``subscribers`` lines' exports for ``months`` months into ``out_dir``.

    ``knobs`` are further ``Settings`` fields (churn targets, contagion strength, ...).
    Existing contract files and the ground-truth folder in ``out_dir`` are replaced;
    ``ground-truth/params.json`` is written last, so its presence marks a complete run.
    """
    if subscribers < 50:
        raise ValueError("subscribers must be at least 50")
    if months < 1:
        raise ValueError("months must be at least 1")
    began = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_dir = out_dir / GROUND_TRUTH_DIR
    if truth_dir.exists():
        shutil.rmtree(truth_dir)
    truth_dir.mkdir()
    for entity in ENTITIES:
        for old in out_dir.glob(f"{entity}*.csv"):
            old.unlink()
    report = GenerationReport(out_dir=out_dir)
    settings = Settings(subscribers=subscribers, months=months, seed=seed,
                        start_month=start_month, contagion=contagion, **knobs)
    first = np.datetime64(start_month, "M")
    day0 = int(first.astype("datetime64[D]").astype(np.int64))
    days = int((first + months).astype("datetime64[D]").astype(np.int64)) - day0

    def stage(name: str, since: float) -> float:
        now = time.perf_counter()
        report.stage_seconds[name] = round(now - since, 2)
        return now

    t = time.perf_counter()
    world = build_world(settings, day0, days)
    t = stage("world", t)
    story = tell_story(world)
    t = stage("story", t)
    writer = MonthWriter(world, story, out_dir)
    report.rows.update(_write_master(world, story, writer, out_dir))
    t = stage("master files", t)
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not progress) as bar:
        task = bar.add_task("synthetic operator: months", total=days)
        for m in range(months):
            bar.update(task, description=f"synthetic operator: {first + m}")
            writer.write_month(m, tick=lambda: bar.advance(task))
    report.rows.update(writer.rows)
    t = stage("monthly files", t)
    report.rows.update(_write_campaigns(world, story, writer, out_dir))
    report.rows.update(_write_truth(world, story, writer, truth_dir))
    stage("campaigns and ground truth", t)
    report.seconds = round(time.perf_counter() - began, 2)
    params = {**asdict(settings), "operator": places.OPERATOR, "competitors": places.COMPETITORS,
              "window_days": days, "hazard_scales_per_day": story.scales,
              "competitor_offers": story.offers.round(3).tolist(),
              "rows": report.rows}
    (truth_dir / "params.json").write_text(json.dumps(params, ensure_ascii=False, indent=2)
                                           + "\n", encoding="utf-8")
    return report


def _write_master(world: World, story: Story, writer: MonthWriter, out_dir: Path
                  ) -> dict[str, int]:
    """products, customers, subscriptions (status as of the last day of the window)."""
    rng = np.random.default_rng([world.settings.seed, 6])
    rows: dict[str, int] = {}
    products = list(zip(*PRODUCTS, strict=True))
    fee_col = np.asarray(products[4], dtype=np.float64)
    kind = np.asarray(products[2], dtype=object)
    is_plan = kind != "vas"
    with CsvSink.for_entity(out_dir, "products") as sink:
        sink.write({
            "product_id": np.asarray(products[0], dtype=object),
            "name": np.asarray(products[1], dtype=object),
            "product_type": kind,
            "payment_type": pa.array(products[3], mask=~is_plan),
            "monthly_fee": money(fee_col),
            "included_minutes": pa.array(products[5], mask=~is_plan),
            "included_sms": pa.array(products[6], mask=~is_plan),
            "included_data_mb": pa.array(np.asarray(products[7]),
                                         mask=np.asarray(products[7]) == 0),
            "price_per_minute": pa.array(np.asarray(products[8], dtype=np.float64), mask=~is_plan),
            "price_per_mb": pa.array(np.asarray(products[9], dtype=np.float64), mask=~is_plan),
        })
        rows[sink.path.name] = sink.rows

    k = world.n_customers
    holder = world.customer_holder
    ctype = world.customer_type
    person = ctype == 0
    male = world.male[holder]
    age = world.age[holder].astype(np.int64)
    district = world.district[holder].astype(np.int64)
    birth = (world.day0 - age * 365 - rng.integers(0, 365, k)).astype("datetime64[D]")
    weights = 1.0 / np.arange(1, len(places.SURNAMES) + 1) ** 0.9
    surname = rng.choice(len(places.SURNAMES), k, p=weights / weights.sum())
    names = places.person_names(rng, surname, male)
    home = np.where(rng.random(k) < 0.7, np.asarray([d[1] for d in places.DISTRICTS])[district],
                    np.asarray(places.OUTSIDE_REGION_CODES)[
                        rng.integers(0, len(places.OUTSIDE_REGION_CODES), k)])
    id_number = places.id_numbers(rng, home, birth, male)
    address = places.addresses(rng, district)
    enterprise = ctype == 1
    group = ctype == 2
    names[enterprise] = places.company_names(rng, int(enterprise.sum()))
    names[group] = places.group_names(rng, district[group])
    id_number[~person] = places.credit_codes(rng, district[~person])
    address[~person] = places.office_addresses(rng, district[~person])
    join = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(join, world.customer, world.start_day)
    with CsvSink.for_entity(out_dir, "customers") as sink:
        sink.write({
            "customer_id": writer.customer_ids,
            "customer_type": np.asarray(("individual", "enterprise", "group"), dtype=object)[ctype],
            "name": names,
            "gender": pa.array(np.where(male, "M", "F").astype(object), mask=~person),
            "birth_date": dates(birth.astype(np.int64), mask=~person),
            "id_number": id_number,
            "address": pa.array(address, type=pa.string(), mask=rng.random(k) < 0.03),
            "region": np.asarray([d[0] for d in places.DISTRICTS], dtype=object)[district],
            "join_date": dates(join),
            "do_not_contact": world.do_not_contact,
        })
        rows[sink.path.name] = sink.rows

    last_day = world.days - 1
    churned = story.churn_day <= last_day
    suspended = ~churned & (story.suspend_day <= last_day) & (story.cure_day > last_day)
    status = np.where(churned, "terminated", np.where(suspended, "suspended", "active"))
    with CsvSink.for_entity(out_dir, "subscriptions") as sink:
        sink.write({
            "subscription_id": writer.sub_ids,
            "customer_id": writer.customer_ids.take(pa.array(world.customer)),
            "msisdn": writer.e164,
            "product_id": np.asarray([p[0] for p in PRODUCTS], dtype=object)[world.product],
            "status": status.astype(object),
            "start_date": dates(world.start_day),
            "end_date": dates(world.day0 + np.where(churned, story.churn_day, 0), mask=~churned),
        })
        rows[sink.path.name] = sink.rows
    return rows


def _write_campaigns(world: World, story: Story, writer: MonthWriter, out_dir: Path
                     ) -> dict[str, int]:
    """Campaigns, their target lists (treatment and control) and the responses."""
    rng = np.random.default_rng([world.settings.seed, 5])
    rows: dict[str, int] = {}
    campaigns = story.campaigns
    with CsvSink.for_entity(out_dir, "campaigns") as sink:
        contacts = np.array([len(c.subs) for c in campaigns], dtype=np.float64)
        sink.write({
            "campaign_id": np.asarray([c.campaign_id for c in campaigns], dtype=object),
            "name": np.asarray([c.name for c in campaigns], dtype=object),
            "objective": np.asarray([c.objective for c in campaigns], dtype=object),
            "offer": np.asarray([c.offer for c in campaigns], dtype=object),
            "channels": np.asarray([";".join(c.channels) for c in campaigns], dtype=object),
            "start_date": dates(np.array([world.day0 + c.start for c in campaigns])),
            "end_date": dates(np.array([world.day0 + c.end for c in campaigns])),
            "budget": money(np.ceil(contacts * np.array(
                [c.cost_per_contact for c in campaigns]) * 1.1 / 100) * 100),
            "cost_per_contact": money(np.array([c.cost_per_contact for c in campaigns])),
            "control_share": money(np.array([c.control_share for c in campaigns])),
        })
        rows[sink.path.name] = sink.rows
    contact_sink = CsvSink.for_entity(out_dir, "campaign_contacts")
    response_sink = CsvSink.for_entity(out_dir, "campaign_responses")
    next_contact, next_response = 1, 1
    ctype = world.customer_type[world.customer]
    for campaign in campaigns:
        subs, treated = campaign.subs, campaign.treated
        channel = _campaign_channels(rng, campaign, ctype[subs])
        contact_seconds = ((world.day0 + campaign.contact_day) * 86400
                           + rng.integers(9 * 3600, 20 * 3600, len(subs)))
        contact_ids = ids("T", next_contact + np.arange(len(subs)), 9)
        next_contact += len(subs)
        contact_sink.write({
            "contact_id": contact_ids,
            "campaign_id": np.full(len(subs), campaign.campaign_id, dtype=object),
            "customer_id": writer.customer_ids.take(pa.array(world.customer[subs])),
            "msisdn": writer.e164.take(pa.array(subs)),
            "channel": pa.array(channel, type=pa.string(), mask=~treated),
            "contacted_at": timestamps(contact_seconds, mask=~treated),
            "contact_group": np.where(treated, "treatment", "control").astype(object),
        })
        # responses: the planted acceptance rates; clicks and refusals only when contacted
        u = rng.random(len(subs))
        accepted = u < np.where(treated, campaign.treatment_rate, campaign.control_rate)
        clicks = treated & ~accepted & np.isin(channel, ["sms", "app", "web"]) & (
            rng.random(len(subs)) < 0.12)
        declined = treated & ~accepted & ~clicks & (rng.random(len(subs)) < 0.15)
        delay = np.minimum(rng.exponential(2.5 * 86400, len(subs)), 20 * 86400).astype(np.int64)
        window_start = (world.day0 + campaign.start) * 86400 + rng.integers(
            8 * 3600, 22 * 3600, len(subs))
        base = np.where(treated, contact_seconds, window_start)
        when = base + np.where(treated, delay, rng.integers(0, max(
            1, (campaign.end - campaign.start)) * 86400, len(subs)))
        end_of_window = (world.day0 + world.days) * 86400 - 1
        gone = story.churn_day[subs]
        left = np.where(gone < world.days, (world.day0 + np.minimum(gone, world.days)) * 86400,
                        end_of_window + 1)
        if campaign.objective == "winback":
            left = np.full(len(subs), end_of_window + 1)
        answered = (accepted | clicks | declined) & (when <= end_of_window) & (when < left)
        answer = np.where(accepted, "accepted", np.where(clicks, "clicked", "declined"))
        revenue = np.where(accepted & (campaign.revenue > 0), campaign.revenue, np.nan)
        idx = np.flatnonzero(answered)
        idx = idx[np.argsort(when[idx], kind="stable")]
        response_sink.write({
            "response_id": ids("R", next_response + np.arange(len(idx)), 9),
            "contact_id": contact_ids.take(pa.array(idx)),
            "responded_at": timestamps(when[idx]),
            "response": answer[idx].astype(object),
            "revenue": money(np.nan_to_num(revenue[idx]), mask=np.isnan(revenue[idx])),
        })
        next_response += len(idx)
        campaign.realised = _realised(story, campaign, accepted & answered, world.days)
    contact_sink.close()
    response_sink.close()
    rows[contact_sink.path.name] = contact_sink.rows
    rows[response_sink.path.name] = response_sink.rows
    return rows


def _realised(story: Story, campaign: Campaign, accepted: np.ndarray, days: int
              ) -> dict[str, float]:
    """Observed rates per group, to set beside the planted ones in the ground truth."""
    treated = campaign.treated
    stayed = story.churn_day[campaign.subs] >= days
    out: dict[str, float] = {"treated": int(treated.sum()), "control": int((~treated).sum())}
    for name, sel in (("treatment", treated), ("control", ~treated)):
        out[f"realised_{name}_rate"] = float(accepted[sel].mean()) if sel.any() else float("nan")
        out[f"realised_{name}_retention"] = float(stayed[sel].mean()) if sel.any() else float(
            "nan")
    return out


def _campaign_channels(rng: np.random.Generator, campaign: Campaign, ctype: np.ndarray
                       ) -> np.ndarray:
    channels = [c for c in campaign.channels if c != "account_manager"]
    pick = np.asarray(channels, dtype=object)[rng.integers(0, len(channels), len(ctype))]
    if "account_manager" in campaign.channels:
        pick = np.where(ctype > 0, "account_manager", pick)
    return pick.astype(object)


def _write_truth(world: World, story: Story, writer: MonthWriter, truth_dir: Path
                 ) -> dict[str, int]:
    """Churn causes, planted circles, planted campaign effects (for evaluations only)."""
    rows: dict[str, int] = {}
    left = np.flatnonzero(story.churn_day < world.days)
    left = left[np.lexsort((left, story.churn_day[left]))]
    causes = CsvSink(truth_dir / "churn_causes.csv",
                     ("subscription_id", "msisdn", "churn_date", "cause"))
    with causes:
        causes.write({
            "subscription_id": writer.sub_ids.take(pa.array(left)),
            "msisdn": writer.e164.take(pa.array(left)),
            "churn_date": dates(world.day0 + story.churn_day[left]),
            "cause": np.asarray(CAUSES, dtype=object)[story.cause[left]],
        })
    rows[f"{GROUND_TRUTH_DIR}/churn_causes.csv"] = causes.rows
    circles = CsvSink(truth_dir / "circles.csv", ("msisdn", "circle_id", "circle_kind"))
    with circles:
        people = np.arange(world.n_people)
        circles.write({
            "msisdn": writer.variants.take(pa.array(people)),
            "circle_id": ids("K", 1 + world.circle.astype(np.int64), 7),
            "circle_kind": np.asarray(CIRCLE_KINDS, dtype=object)[world.circle_kind[world.circle]],
        })
    rows[f"{GROUND_TRUTH_DIR}/circles.csv"] = circles.rows
    effects = CsvSink(truth_dir / "campaign_effects.csv", (
        "campaign_id", "objective", "response", "planted_control_rate",
        "planted_treatment_rate", "planted_response_uplift", "planted_churn_hazard_reduction",
        "treated", "control", "realised_control_rate", "realised_treatment_rate",
        "realised_control_retention", "realised_treatment_retention"))
    with effects:
        cs = story.campaigns
        real = [c.realised for c in cs]
        effects.write({
            "campaign_id": np.asarray([c.campaign_id for c in cs], dtype=object),
            "objective": np.asarray([c.objective for c in cs], dtype=object),
            "response": np.full(len(cs), "accepted", dtype=object),
            "planted_control_rate": np.array([c.control_rate for c in cs]),
            "planted_treatment_rate": np.array([c.treatment_rate for c in cs]),
            "planted_response_uplift": np.round(
                np.array([c.treatment_rate - c.control_rate for c in cs]), 4),
            "planted_churn_hazard_reduction": np.array([c.churn_reduction for c in cs]),
            "treated": np.array([r.get("treated", 0) for r in real], dtype=np.int64),
            "control": np.array([r.get("control", 0) for r in real], dtype=np.int64),
            **{key: np.round(np.array([r.get(key, np.nan) for r in real]), 4) for key in (
                "realised_control_rate", "realised_treatment_rate",
                "realised_control_retention", "realised_treatment_retention")},
        })
    rows[f"{GROUND_TRUTH_DIR}/campaign_effects.csv"] = effects.rows
    return rows
