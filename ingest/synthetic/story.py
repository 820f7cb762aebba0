"""What happens to each line over the months: service trouble, arrears, campaigns, churn.

A day-by-day competing-risks simulation over all subscriptions at once. Each line has
a daily hazard per cause (price/plan mismatch, service complaints, competitor offers,
contagion from circle members who already left), scaled so the causes reach their
monthly targets; arrears are a schedule (two unpaid bills, suspension, termination).
The cause of every churn is kept as ground truth. Campaign target lists are drawn on
the campaign's first day from the state of that day, and a retention campaign lowers
the hazard of the treated lines, so the planted uplift is real in the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ingest.synthetic.places import DISTRICTS
from ingest.synthetic.world import (
    ENTERPRISE_BUNDLE,
    FAMILY_BUNDLE,
    FAMILY_SUB_CARD,
    PRODUCTS,
    World,
)

CAUSES = ("price_plan_mismatch", "service_complaints", "competitor_offer", "contagion", "arrears")
PLAN, SERVICE, COMPETITOR, CONTAGION, ARREARS = range(5)
PORT_OUT, TERMINATION, NON_PAYMENT = range(3)
NEVER = np.iinfo(np.int64).max // 4


@dataclass
class Campaign:
    """A campaign's plan, its planted effect, and (once drawn) its target list."""

    campaign_id: str
    name: str
    objective: str
    offer: str
    channels: tuple[str, ...]
    start: int
    end: int
    cost_per_contact: float
    control_share: float
    control_rate: float
    treatment_rate: float
    churn_reduction: float
    revenue: float
    target_share: float
    subs: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    treated: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    contact_day: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    realised: dict[str, float] = field(default_factory=dict)


@dataclass
class Story:
    churn_day: np.ndarray
    cause: np.ndarray
    churn_type: np.ndarray
    recipient: np.ndarray
    """0 China Unicom, 1 China Telecom, -1 none."""
    drop_days: np.ndarray
    """How many days before leaving a churner's activity starts to fall."""
    suspend_day: np.ndarray
    delinquent_from: np.ndarray
    """First unpaid bill period (month index, may be before the window); large if never."""
    cure_day: np.ndarray
    issue_onset: np.ndarray
    issue_end: np.ndarray
    issue_severity: np.ndarray
    offers: np.ndarray
    """Competitor offer intensity per month, shape (months, 2)."""
    campaigns: list[Campaign]
    scales: dict[str, float]

    def severity(self, t: int) -> np.ndarray:
        return _severity(self.issue_onset, self.issue_end, self.issue_severity, t)


def _severity(onset: np.ndarray, end: np.ndarray, severity: np.ndarray, t: int) -> np.ndarray:
    """Service trouble of every line on day ``t``: ramps up after onset, ends when fixed."""
    ramp = np.clip((t - onset) / 30.0, 0.0, 1.5)
    return np.where((t >= onset) & (t < end), severity * ramp, 0.0)


def month_starts(world: World) -> np.ndarray:
    """Day index (from the window start) of each month's first day, plus the end."""
    start = np.datetime64(world.settings.start_month, "M")
    months = start + np.arange(world.settings.months + 1)
    return (months.astype("datetime64[D]").astype(np.int64) - world.day0).astype(np.int64)


def tell_story(world: World) -> Story:
    """Simulate every line day by day; deterministic for the seed."""
    settings = world.settings
    rng = np.random.default_rng([settings.seed, 2])
    n, days = world.n_subs, world.days
    bounds = month_starts(world)
    months = settings.months

    ctype = world.customer_type[world.customer]
    shared = np.isin(world.product, [FAMILY_BUNDLE, FAMILY_SUB_CARD])
    prepaid = np.array([p[3] == "prepaid" for p in PRODUCTS])[world.product]
    start = world.start_day - world.day0  # day index, negative = before the window

    # service trouble: coverage is worse in the outer districts
    coverage = np.array([d[3] for d in DISTRICTS])[world.district]
    has_issue = rng.random(n) < 0.10 * coverage * (days + 60) / 150
    onset = np.where(has_issue, rng.integers(-60, days, n), NEVER)
    fixed = rng.random(n) < 0.5
    issue_end = np.where(has_issue & fixed, onset + rng.integers(20, 60, n), NEVER)
    severity = rng.lognormal(0, 0.4, n)

    # arrears: individually held postpaid lines fall behind on a schedule
    can_default = ~prepaid & ~shared & (ctype == 0)
    first_bad = np.full(n, NEVER)
    for period in range(-2, months):
        hit = can_default & (first_bad == NEVER) & (rng.random(n) < settings.delinquency_per_month)
        first_bad[hit] = period
    month_day = np.concatenate([[bounds[0] - 61, bounds[0] - 31], bounds,
                                [bounds[-1] + 31, bounds[-1] + 62]])

    def day_of(period: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
        idx = np.clip(period + 2, 0, len(month_day) - 1)
        return month_day[idx] + offset

    delinquent = first_bad != NEVER
    suspend_day = np.where(delinquent, day_of(np.where(delinquent, first_bad + 1, 0), 24), NEVER)
    cured = delinquent & (rng.random(n) < 0.35)
    cure_day = np.where(cured, suspend_day + rng.integers(-10, 25, n), NEVER)
    suspend_day = np.where(cured & (cure_day <= suspend_day), NEVER, suspend_day)
    arrears_day = np.where(delinquent & ~cured,
                           day_of(np.where(delinquent, first_bad + 2, 0), rng.integers(19, 27, n)),
                           NEVER)

    offers = rng.gamma(6.0, 1 / 6, (months, 2))  # mean 1: a promotion now and then

    # hazard multipliers and per-cause scales that meet the monthly targets
    tenure = -start / 365.0
    mult = (np.where(tenure < 1, 1.6, np.where(tenure < 3, 1.1, np.where(tenure > 6, 0.6, 1.0)))
            * np.where(prepaid, 1.3, 1.0) * np.where(ctype > 0, 0.35, 1.0)
            * np.where(shared, 0.7, 1.0))
    raw_plan = np.clip(world.mismatch - 0.1, 0.0, 1.0)
    raw_service = np.mean([_severity(onset, issue_end, severity, t)
                           for t in np.linspace(0, days - 1, 5).astype(int)], axis=0)
    raw_comp = world.share_competitor @ offers.mean(axis=0)
    targets = dict(settings.monthly_churn_targets)
    scales = {
        "price_plan_mismatch": targets["price_plan_mismatch"] / 30 / max(
            1e-9, float((raw_plan * mult).mean())),
        "service_complaints": targets["service_complaints"] / 30 / max(
            1e-9, float((raw_service * mult).mean())),
        "competitor_offer": targets["competitor_offer"] / 30 / max(
            1e-9, float((raw_comp * mult).mean())),
        "contagion": settings.contagion_strength / 30 if settings.contagion else 0.0,
    }

    campaigns = plan_campaigns(world, days)
    churn_day = np.full(n, NEVER)
    cause = np.full(n, -1, dtype=np.int8)
    churn_type = np.full(n, -1, dtype=np.int8)
    recipient = np.full(n, -1, dtype=np.int8)
    exposure = np.zeros((n, 3))  # pull of churned neighbours: to Unicom, to Telecom, elsewhere
    protected_from = np.full(n, NEVER)
    reduction = np.zeros(n)
    lag = settings.contagion_lag_days
    fade = 0.5 ** (1 / settings.contagion_half_life_days)
    indptr, nbr, w = world.circle_indptr, world.circle_nbr, world.circle_w

    for t in range(days):
        m = int(np.searchsorted(bounds, t, side="right") - 1)
        for campaign in campaigns:
            if campaign.start == t:
                risk = _hazard_snapshot(raw_plan, severity, onset, issue_end, t, raw_comp, mult,
                                        scales, exposure)
                _draw_targets(rng, world, campaign, t, start, churn_day, risk, cause)
                if campaign.churn_reduction > 0:
                    treated = campaign.subs[campaign.treated]
                    protected_from[treated] = campaign.contact_day[campaign.treated]
                    reduction[treated] = campaign.churn_reduction
        exposure *= fade  # the pull of a departure fades (half-life contagion_half_life_days)
        if lag <= t:
            src = np.flatnonzero(churn_day == t - lag)
            if len(src):
                counts = indptr[src + 1] - indptr[src]
                rows = np.repeat(indptr[src], counts) + _ranges(counts)
                side = np.where(churn_type[src] == PORT_OUT, recipient[src], 2)
                np.add.at(exposure, (nbr[rows], np.repeat(side, counts)), w[rows])
        alive = (start <= t) & (churn_day == NEVER)
        service = _severity(onset, issue_end, severity, t)
        comp = world.share_competitor * offers[m]
        parts = np.stack([
            scales["price_plan_mismatch"] * raw_plan,
            scales["service_complaints"] * service,
            scales["competitor_offer"] * comp.sum(axis=1),
            scales["contagion"] * (1 - np.exp(-3.0 * exposure.sum(axis=1))),
        ]) * (mult * np.where(t >= protected_from, 1 - reduction, 1.0))
        total = parts.sum(axis=0)
        u = rng.random(n)
        hit = np.flatnonzero(alive & (u < total))
        scheduled = np.flatnonzero(alive & (arrears_day == t))
        hit = np.setdiff1d(hit, scheduled)
        if len(hit):
            cum = np.cumsum(parts[:, hit], axis=0)
            pick = (rng.random(len(hit)) * total[hit] > cum).sum(axis=0).astype(np.int8)
            cause[hit] = pick
            churn_day[hit] = t
            kind = np.where(pick == COMPETITOR, PORT_OUT,
                            np.where(rng.random(len(hit)) < np.array([0.5, 0.6, 1.0, 0.85])[pick],
                                     PORT_OUT, TERMINATION))
            churn_type[hit] = kind
            pull = comp[hit] + 1e-3
            ex = exposure[hit, :2]
            pull = np.where((pick == CONTAGION)[:, None] & (ex.sum(axis=1) > 0)[:, None], ex, pull)
            to_telecom = rng.random(len(hit)) < pull[:, 1] / pull.sum(axis=1)
            recipient[hit] = np.where(kind == PORT_OUT, to_telecom.astype(np.int8), -1)
        if len(scheduled):
            churn_day[scheduled] = t
            cause[scheduled] = ARREARS
            churn_type[scheduled] = NON_PAYMENT

    drop_days = np.where(churn_day < NEVER, rng.integers(14, 46, n), 0)
    return Story(churn_day=churn_day, cause=cause, churn_type=churn_type, recipient=recipient,
                 drop_days=drop_days, suspend_day=suspend_day, delinquent_from=first_bad,
                 cure_day=cure_day, issue_onset=onset, issue_end=issue_end,
                 issue_severity=severity, offers=offers, campaigns=campaigns,
                 scales={k: float(v) for k, v in scales.items()})


def _ranges(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts, counts)


def _hazard_snapshot(raw_plan: np.ndarray, severity: np.ndarray, onset: np.ndarray,
                     issue_end: np.ndarray, t: int, raw_comp: np.ndarray, mult: np.ndarray,
                     scales: dict[str, float], exposure: np.ndarray) -> np.ndarray:
    service = _severity(onset, issue_end, severity, t)
    return mult * (scales["price_plan_mismatch"] * raw_plan
                   + scales["service_complaints"] * service
                   + scales["competitor_offer"] * raw_comp
                   + scales["contagion"] * (1 - np.exp(-3.0 * exposure.sum(axis=1))))


def plan_campaigns(world: World, days: int) -> list[Campaign]:
    """The campaign calendar of the window: one of each objective."""

    def span(first: int, length: int) -> tuple[int, int]:
        first = int(min(max(first, 0), days - 1))
        return first, int(min(days - 1, first + length - 1))

    specs = [
        ("C2601", "春节回家流量包", "upsell", "流量加油包10GB首月半价", ("sms", "app"),
         span(6, 21), 0.1, 0.2, 0.03, 0.09, 0.0, 20.0, 0.10),
        ("C2602", "携号转网挽留关怀", "retention", "话费返还每月30元连续6个月",
         ("call_centre", "sms", "account_manager"), span(days // 3, 30), 5.0, 0.15, 0.04, 0.22,
         0.45, 0.0, 0.06),
        ("C2603", "宽带融合推荐", "cross_sell", "千兆宽带融合套餐首年8折",
         ("store", "call_centre", "app"), span(days // 2, 28), 2.0, 0.1, 0.01, 0.05, 0.0,
         129.0, 0.05),
        ("C2604", "邀请亲友入网有礼", "acquisition", "推荐亲友入网双方各得50元话费",
         ("sms", "app", "web"), span(days // 4, 35), 0.1, 0.2, 0.01, 0.05, 0.0, 50.0, 0.08),
        ("C2605", "老客户回归礼包", "winback", "回归即送3个月会员和20GB流量",
         ("sms", "call_centre"), span(days - 20, 20), 3.0, 0.2, 0.02, 0.08, 0.0, 88.0, 1.0),
    ]
    return [Campaign(campaign_id=c, name=name, objective=obj, offer=offer, channels=ch,
                     start=s, end=e, cost_per_contact=cost, control_share=cs, control_rate=p0,
                     treatment_rate=p1, churn_reduction=red, revenue=rev, target_share=share)
            for c, name, obj, offer, ch, (s, e), cost, cs, p0, p1, red, rev, share in specs]


def _draw_targets(rng: np.random.Generator, world: World, campaign: Campaign, t: int,
                  start: np.ndarray, churn_day: np.ndarray, risk: np.ndarray,
                  cause: np.ndarray) -> None:
    """The target list of a campaign from the state on its first day; random control."""
    n = world.n_subs
    alive = (start <= t) & (churn_day == NEVER)
    contactable = ~world.do_not_contact[world.customer]
    ctype = world.customer_type[world.customer]
    prepaid = np.array([p[3] == "prepaid" for p in PRODUCTS])[world.product]
    pool: np.ndarray
    score: np.ndarray
    if campaign.objective == "retention":
        pool = alive & contactable
        score = risk * rng.lognormal(0, 0.3, n)
    elif campaign.objective == "upsell":
        pool = alive & contactable & (ctype == 0)
        score = world.data_mu + rng.normal(0, 0.3, n) + 0.5 * prepaid
    elif campaign.objective == "cross_sell":
        pool = alive & contactable & (ctype == 0) & ~prepaid & (world.product != FAMILY_BUNDLE) \
            & (world.product != FAMILY_SUB_CARD) & (world.age >= 28) & (world.age <= 60)
        score = rng.random(n)
    elif campaign.objective == "acquisition":
        pool = alive & contactable & (world.product != ENTERPRISE_BUNDLE)
        score = world.share_competitor.sum(axis=1) + rng.normal(0, 0.05, n)
    else:  # winback: lines that left for a competitor or of their own will
        pool = (churn_day < t) & contactable & (cause != ARREARS)
        score = rng.random(n)
    candidates = np.flatnonzero(pool)
    take = round(campaign.target_share * n) if campaign.objective != "winback" else len(
        candidates)
    take = min(take, len(candidates))
    chosen = candidates[np.argsort(-score[candidates], kind="stable")[:take]]
    chosen = np.sort(chosen)
    treated = rng.random(len(chosen)) >= campaign.control_share
    first_week = min(7, campaign.end - campaign.start + 1)
    campaign.subs = chosen
    campaign.treated = treated
    campaign.contact_day = t + rng.integers(0, first_week, len(chosen))
