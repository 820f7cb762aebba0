"""The operator's latent world: people, planted call circles, ties, customers and plans.

Everything that does not change from day to day is drawn here once, vectorised with
numpy: who belongs to which circle (family, work, friends), who is on our network and
who is a competitor's subscriber, how strongly each pair talks, who holds which
line, on which plan. The churn simulation and the monthly files read from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.synthetic import places

FAMILY, WORK, FRIENDS, WEAK, HOTLINE, TRAFFIC, DELIVERY = range(7)
KIND_NAMES = ("family", "work", "friends", "weak", "hotline", "traffic_radio", "delivery")
CIRCLE_KINDS = ("family", "work", "friends")
OURS, UNICOM, TELECOM, HUB = range(4)

# product_id, name, product_type, payment_type, fee, minutes, sms, data MB, per minute, per MB
PRODUCTS: tuple[tuple[str, str, str, str, float, int, int, int, float, float], ...] = (
    ("P101", "神州行畅听卡8元", "plan", "prepaid", 8, 100, 0, 1024, 0.15, 0.005),
    ("P102", "动感地带校园卡18元", "plan", "prepaid", 18, 50, 100, 10240, 0.15, 0.005),
    ("P103", "神州行大流量卡29元", "plan", "prepaid", 29, 100, 0, 20480, 0.15, 0.005),
    ("P104", "动感地带潮玩卡39元", "plan", "prepaid", 39, 200, 100, 30720, 0.15, 0.005),
    ("P105", "神州行尊享卡59元", "plan", "prepaid", 59, 500, 100, 40960, 0.15, 0.005),
    ("P201", "全球通畅享套餐58元", "plan", "postpaid", 58, 200, 0, 30720, 0.10, 0.003),
    ("P202", "全球通畅享套餐88元", "plan", "postpaid", 88, 500, 0, 40960, 0.10, 0.003),
    ("P203", "全球通畅享套餐128元", "plan", "postpaid", 128, 700, 100, 61440, 0.10, 0.003),
    ("P204", "全球通畅享套餐188元", "plan", "postpaid", 188, 1000, 200, 102400, 0.10, 0.003),
    ("P205", "全球通尊享套餐288元", "plan", "postpaid", 288, 2000, 300, 153600, 0.10, 0.003),
    ("P206", "全球通钻石套餐588元", "plan", "postpaid", 588, 5000, 500, 307200, 0.10, 0.003),
    ("P207", "家庭副卡10元", "plan", "postpaid", 10, 100, 0, 5120, 0.15, 0.005),
    ("B301", "家庭融合套餐129元(含千兆宽带)", "bundle", "postpaid", 129, 500, 100, 61440, 0.10,
     0.003),
    ("B302", "集团V网商务套餐99元", "bundle", "postpaid", 99, 1000, 200, 30720, 0.10, 0.003),
    ("B303", "5G智享套餐199元(含视频会员)", "bundle", "postpaid", 199, 800, 200, 102400, 0.10,
     0.003),
    ("V401", "视频彩铃", "vas", "", 6, 0, 0, 0, 0, 0),
    ("V402", "139邮箱", "vas", "", 5, 0, 0, 0, 0, 0),
    ("V403", "和彩云盘会员", "vas", "", 10, 0, 0, 0, 0, 0),
    ("V404", "咪咕视频会员", "vas", "", 15, 0, 0, 0, 0, 0),
    ("V405", "流量加油包10GB", "vas", "", 20, 0, 0, 0, 0, 10240),
    ("V406", "国际漫游日包", "vas", "", 25, 0, 0, 0, 0, 0),
)
PREPAID_PLANS = np.array([0, 1, 2, 3, 4])
POSTPAID_PLANS = np.array([5, 6, 7, 8, 9, 10, 14])
FAMILY_SUB_CARD, FAMILY_BUNDLE, ENTERPRISE_BUNDLE = 11, 12, 13
VAS_PRODUCTS = np.array([15, 16, 17, 18, 19])
ROAMING_DAY_PASS = 25.0
SMS_PRICE = 0.1
DATA_CHARGE_CAP = 80.0
"""Out-of-bundle data is capped per month (流量封顶), as Chinese plans do."""

# events per day on one tie before scaling; SMS share Beta(a, b); log-duration mean, sd
BASE_RATE = np.array([0.9, 0.35, 0.30, 0.08, 0.015, 0.15, 0.04], dtype=np.float32)
SMS_BETA = ((1.5, 10), (2, 8), (2, 6), (1, 6), (0.01, 100), (3, 7), (4, 6))
DURATION_MU = np.log(np.array([100, 130, 160, 70, 200, 90, 35], dtype=np.float64))
DURATION_SIGMA = np.array([1.0, 1.0, 1.1, 0.9, 0.8, 0.6, 0.5], dtype=np.float32)


@dataclass
class Settings:
    """The knobs of the generator (written to ``ground-truth/params.json``)."""

    subscribers: int
    months: int
    seed: int
    start_month: str = "2026-01"
    contagion: bool = True
    events_per_subscriber_day: float = 2.5
    family_share: float = 0.5
    work_share: float = 0.2
    weak_ties_per_subscriber: float = 2.0
    new_activations_per_month: float = 0.013
    monthly_churn_targets: tuple[tuple[str, float], ...] = (
        ("price_plan_mismatch", 0.0065), ("service_complaints", 0.0055),
        ("competitor_offer", 0.0065))
    delinquency_per_month: float = 0.006
    contagion_strength: float = 0.2
    """Monthly churn hazard a subscriber would face if all its circle ties had left."""
    contagion_lag_days: int = 7
    contagion_half_life_days: float = 20.0
    mismatch_share: float = 0.22
    cdr_format_shares: tuple[float, float, float, float] = (0.55, 0.25, 0.10, 0.10)
    """E.164, national, 86-prefixed, spaced international."""


@dataclass
class World:
    settings: Settings
    day0: int
    days: int
    # nodes: circle members (on- and off-net) then hubs
    number: np.ndarray
    carrier: np.ndarray
    circle: np.ndarray
    circle_kind: np.ndarray
    # ties
    a: np.ndarray
    b: np.ndarray
    kind: np.ndarray
    rate: np.ndarray
    p_sms: np.ndarray
    p_ab: np.ndarray
    dur_mu: np.ndarray
    # subscriptions (index = subscription number order)
    sub_person: np.ndarray
    sub_of_person: np.ndarray
    start_day: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    vas: np.ndarray
    age: np.ndarray
    male: np.ndarray
    district: np.ndarray
    data_mu: np.ndarray
    data_p: np.ndarray
    travel_p: np.ndarray
    business_trip_p: np.ndarray
    international_p: np.ndarray
    late_payer: np.ndarray
    mismatch: np.ndarray
    share_competitor: np.ndarray
    strength: np.ndarray
    circle_indptr: np.ndarray
    circle_nbr: np.ndarray
    circle_w: np.ndarray
    # customers
    customer_type: np.ndarray
    customer_holder: np.ndarray
    do_not_contact: np.ndarray

    @property
    def n_subs(self) -> int:
        return len(self.sub_person)

    @property
    def n_customers(self) -> int:
        return len(self.customer_type)

    @property
    def n_nodes(self) -> int:
        return len(self.number)

    @property
    def n_people(self) -> int:
        return len(self.circle)


def build_world(settings: Settings, day0: int, days: int) -> World:
    """Draw the whole latent world for ``settings`` (deterministic for the seed)."""
    rng = np.random.default_rng([settings.seed, 1])
    n = settings.subscribers

    circle, circle_kind, on_net, comp = _circles(rng, settings, n)
    people = len(circle)
    starts = np.searchsorted(circle, np.arange(len(circle_kind) + 1))
    sizes = np.diff(starts)
    hubs = len(places.HUBS)

    carrier = np.full(people + hubs, HUB, dtype=np.int8)
    carrier[:people] = np.where(on_net, OURS, np.where(comp, TELECOM, UNICOM))
    number = np.empty(people + hubs, dtype=np.int64)
    number[:people] = _mobile_numbers(rng, carrier[:people])
    number[people:] = [hub[1] for hub in places.HUBS]

    # subscriptions: on-net people, numbered in activation order
    persons = np.flatnonzero(on_net)
    tenure = np.minimum(rng.exponential(4.5 * 365, len(persons)), 20 * 365).astype(np.int64)
    start = day0 - 1 - tenure
    new = rng.random(len(persons)) < settings.new_activations_per_month * settings.months
    start[new] = day0 + rng.integers(0, days, int(new.sum()))
    order = np.lexsort((rng.random(len(persons)), start))
    sub_person = persons[order].astype(np.int32)
    start_day = start[order]
    sub_of_person = np.full(people + hubs, -1, dtype=np.int32)
    sub_of_person[sub_person] = np.arange(n, dtype=np.int32)

    age, male, district = _demography(rng, circle, circle_kind, starts, sub_person)
    alpha = rng.lognormal(-0.18, 0.6, people + hubs).astype(np.float32)
    alpha[people:] = 1.0

    a, b, kind = _ties(rng, settings, circle, circle_kind, starts, sizes, on_net, sub_person,
                       age, people)
    m = len(a)
    tie = rng.lognormal(-0.32, 0.8, m).astype(np.float32)
    rate = BASE_RATE[kind] * tie * np.sqrt(alpha[a] * alpha[b])
    p_sms = np.empty(m, dtype=np.float32)
    for k, (x, y) in enumerate(SMS_BETA):
        sel = kind == k
        p_sms[sel] = rng.beta(x, y, int(sel.sum()))
    p_ab = rng.beta(3, 3, m).astype(np.float32)
    p_ab[kind >= HOTLINE] = 1.0  # people call hotlines and the radio
    p_ab[kind == DELIVERY] = 0.15  # couriers call people
    dur_mu = (DURATION_MU[kind] + rng.normal(0, 0.3, m)).astype(np.float32)
    rate *= np.float32(settings.events_per_subscriber_day * n / float(rate.sum()))

    # strength and competitor pull per subscription (hubs excluded)
    person_tie = kind < HOTLINE
    sa, sb = sub_of_person[a], sub_of_person[b]
    strength = (np.bincount(sa[person_tie & (sa >= 0)], rate[person_tie & (sa >= 0)], n)
                + np.bincount(sb[person_tie & (sb >= 0)], rate[person_tie & (sb >= 0)], n))
    strength = np.maximum(strength, 1e-6)
    share = np.zeros((n, 2))
    for c, col in ((UNICOM, 0), (TELECOM, 1)):
        x = person_tie & (carrier[b] == c) & (sa >= 0)
        y = person_tie & (carrier[a] == c) & (sb >= 0)
        share[:, col] = (np.bincount(sa[x], rate[x], n) + np.bincount(sb[y], rate[y], n)) / strength
    inner = (kind <= FRIENDS) & (sa >= 0) & (sb >= 0)
    src = np.concatenate([sa[inner], sb[inner]])
    dst = np.concatenate([sb[inner], sa[inner]])
    w = np.concatenate([rate[inner], rate[inner]]) / strength[dst]
    csr = np.argsort(src, kind="stable")
    circle_indptr = np.searchsorted(src[csr], np.arange(n + 1)).astype(np.int64)
    circle_nbr = dst[csr].astype(np.int32)
    circle_w = w[csr].astype(np.float32)

    customer, customer_type, customer_holder = _customers(
        rng, circle, circle_kind, sub_person, sub_of_person, start_day)

    # usage propensities
    young = age < 30
    data_mu = rng.normal(np.log(350), 0.9, n) + 0.5 * young - 0.8 * (age > 65)
    data_p = rng.beta(8, 2, n)
    travel_p = np.clip(rng.beta(2, 6, n) + 0.15 * (age > 20) * (age < 45), 0, 0.9)
    sub_kind = circle_kind[circle[sub_person]]
    business_trip_p = np.where(sub_kind == WORK, rng.beta(2, 8, n), rng.beta(1, 30, n))
    international_p = np.where(rng.random(n) < 0.08, 0.3, 0.01)
    late_payer = rng.random(n) < 0.10

    product, mismatch = _plans(rng, settings, customer, customer_type, customer_holder,
                               sub_person, sub_of_person, a, b, kind, rate, p_sms, p_ab,
                               dur_mu, data_mu, data_p, age)
    vas = _vas(rng, product)
    return World(
        settings=settings, day0=day0, days=days, number=number, carrier=carrier,
        circle=circle, circle_kind=circle_kind, a=a, b=b, kind=kind, rate=rate, p_sms=p_sms,
        p_ab=p_ab, dur_mu=dur_mu, sub_person=sub_person, sub_of_person=sub_of_person,
        start_day=start_day, customer=customer, product=product, vas=vas, age=age, male=male,
        district=district, data_mu=data_mu, data_p=data_p, travel_p=travel_p,
        business_trip_p=business_trip_p, international_p=international_p,
        late_payer=late_payer, mismatch=mismatch, share_competitor=share, strength=strength,
        circle_indptr=circle_indptr, circle_nbr=circle_nbr, circle_w=circle_w,
        customer_type=customer_type, customer_holder=customer_holder,
        do_not_contact=rng.random(len(customer_type)) < 0.06,
    )


def _circles(rng: np.random.Generator, settings: Settings, n: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Planted circles until ``n`` on-net members: heavy-tailed sizes, mixed operators.

    Members are sorted by circle, on-net members first inside each circle.
    """
    p = np.array([settings.family_share, settings.work_share,
                  1 - settings.family_share - settings.work_share])
    batch = max(1000, n // 2)
    kinds, sizes, q_off, q_tel = [], [], [], []
    total = 0
    while total < n:
        kind = rng.choice(3, batch, p=p).astype(np.int8)
        size = np.where(
            kind == FAMILY, 2 + np.minimum(rng.poisson(1.3, batch), 7),
            np.where(kind == WORK,
                     3 + np.minimum(rng.lognormal(np.log(6), 1.0, batch), 400).astype(int),
                     3 + np.minimum(rng.lognormal(np.log(4), 0.8, batch), 60).astype(int)))
        off = np.where(kind == FAMILY, rng.beta(1.2, 4, batch),
                       np.where(kind == WORK, rng.beta(2, 4, batch), rng.beta(2, 3, batch)))
        kinds.append(kind)
        sizes.append(size)
        q_off.append(off)
        q_tel.append(rng.beta(2, 2, batch))
        total += int((size * (1 - off)).sum())
    kind = np.concatenate(kinds)
    size = np.concatenate(sizes)
    off = np.concatenate(q_off)
    tel = np.concatenate(q_tel)
    member_circle = np.repeat(np.arange(len(kind)), size)
    on = rng.random(len(member_circle)) >= off[member_circle]
    comp = rng.random(len(member_circle)) < tel[member_circle]
    cum = np.cumsum(on)
    last = int(np.searchsorted(cum, n))  # member index where the n-th on-net member sits
    keep = np.arange(len(member_circle)) <= last
    last_circle = member_circle[last]
    keep |= (member_circle == last_circle) & ~on  # keep the off-net members of that circle
    member_circle, on, comp = member_circle[keep], on[keep], comp[keep]
    # drop circles without an on-net member, renumber densely
    has_on = np.bincount(member_circle, on, len(kind)) > 0
    keep = has_on[member_circle]
    member_circle, on, comp = member_circle[keep], on[keep], comp[keep]
    used, member_circle = np.unique(member_circle, return_inverse=True)
    order = np.lexsort((~on, member_circle))
    return (member_circle[order].astype(np.int32), kind[used], on[order], comp[order])


def _mobile_numbers(rng: np.random.Generator, carrier: np.ndarray) -> np.ndarray:
    """Distinct valid mobile numbers (E.164 digits) in each carrier's own ranges."""
    out = np.empty(len(carrier), dtype=np.int64)
    for c, prefixes in ((OURS, places.OUR_PREFIXES), (UNICOM, places.UNICOM_PREFIXES),
                        (TELECOM, places.TELECOM_PREFIXES)):
        where = np.flatnonzero(carrier == c)
        need = len(where)
        got = np.empty(0, dtype=np.int64)
        while len(got) < need:
            k = int(need * 1.2) + 100
            prefix = np.asarray(prefixes, dtype=np.int64)[rng.integers(0, len(prefixes), k)]
            suffix = rng.integers(0, 10**8, k)
            # 1349 is China Satcom's satellite range, not China Mobile
            suffix = np.where((prefix == 134) & (suffix >= 9 * 10**7), suffix - 10**7, suffix)
            cand = 86 * 10**11 + prefix * 10**8 + suffix
            got = _distinct(np.concatenate([got, cand]))
        out[where] = rng.permutation(got)[:need]
    return out


def _demography(rng: np.random.Generator, circle: np.ndarray, circle_kind: np.ndarray,
                starts: np.ndarray, sub_person: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Age, sex and home district per subscription; circles share district and age band."""
    c = circle[sub_person]
    kind = circle_kind[c]
    n_circles = len(circle_kind)
    base_age = rng.uniform(20, 62, n_circles)
    weights = np.array([d[2] for d in places.DISTRICTS])
    circle_district = rng.choice(len(weights), n_circles, p=weights / weights.sum())
    n = len(sub_person)
    age = np.where(kind == FAMILY, rng.uniform(12, 82, n),
                   np.where(kind == WORK, base_age[c] + rng.normal(0, 9, n),
                            base_age[c] - 5 + rng.normal(0, 4, n)))
    age = np.clip(age, np.where(kind == WORK, 20, 13), 85).astype(np.int16)
    # the first on-net family member is an adult: the one who usually holds the account
    first = sub_person == starts[c]
    age = np.where(first & (kind == FAMILY) & (age < 28), age + 25, age).astype(np.int16)
    male = rng.random(n) < 0.5
    own_district = rng.choice(len(weights), n, p=weights / weights.sum())
    district = np.where((kind == WORK) & (rng.random(n) < 0.5), own_district, circle_district[c])
    return age, male, district.astype(np.int8)


def _ties(rng: np.random.Generator, settings: Settings, circle: np.ndarray,
          circle_kind: np.ndarray, starts: np.ndarray, sizes: np.ndarray, on_net: np.ndarray,
          sub_person: np.ndarray, age: np.ndarray, people: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ties inside circles, weak ties across them, and calls to hub numbers."""
    kind_of = circle_kind[circle]
    k = sizes[circle]
    want = np.where(kind_of == FAMILY, k - 1,
                    np.minimum(k - 1, 1 + rng.poisson(np.where(kind_of == WORK, 4.0, 3.0))))
    src = np.repeat(np.arange(people, dtype=np.int64), want)
    local = src - starts[circle[src]]
    r = (rng.random(len(src)) * (k[src] - 1)).astype(np.int64)
    r += r >= local
    dst = starts[circle[src]] + r
    pairs = _undirected(src, dst, people)
    # every off-net member talks to at least one on-net member of its circle
    lo, hi = pairs // people, pairs % people
    pairs = pairs[on_net[lo] | on_net[hi]]
    lo, hi = pairs // people, pairs % people
    touched = np.zeros(people, dtype=bool)
    touched[lo] = True
    touched[hi] = True
    lonely = np.flatnonzero(~on_net & ~touched)
    on_count = np.bincount(circle, on_net, len(circle_kind)).astype(np.int64)
    partner = starts[circle[lonely]] + (rng.random(len(lonely)) * on_count[circle[lonely]]
                                        ).astype(np.int64)
    pairs = _distinct(np.concatenate([pairs, _undirected(lonely, partner, people)]))
    circle_pairs = pairs
    # weak ties from subscribers to anyone
    n = len(sub_person)
    weak_n = rng.poisson(settings.weak_ties_per_subscriber, n)
    wsrc = np.repeat(sub_person.astype(np.int64), weak_n)
    wdst = rng.integers(0, people, len(wsrc))
    ok = wsrc != wdst
    weak = _undirected(wsrc[ok], wdst[ok], people)
    at = np.minimum(np.searchsorted(circle_pairs, weak), len(circle_pairs) - 1)
    weak = weak[circle_pairs[at] != weak]  # a circle tie already covers the pair
    a = np.concatenate([circle_pairs // people, weak // people])
    b = np.concatenate([circle_pairs % people, weak % people])
    kind = np.concatenate([kind_of[circle_pairs // people], np.full(len(weak), WEAK, np.int8)])
    # hubs: hotlines, delivery companies, the traffic radio (drivers call it often)
    hub_a, hub_b, hub_kind = [], [], []
    driver = (rng.random(n) < 0.12) & (age >= 25) & (age <= 60)
    for h, (_name, _number, hub_type, share, _out) in enumerate(places.HUBS):
        if h == places.TRAFFIC_RADIO:
            callers = np.flatnonzero(np.where(driver, rng.random(n) < 0.7, rng.random(n) < 0.01))
            hk = TRAFFIC
        else:
            callers = np.flatnonzero(rng.random(n) < share)
            hk = DELIVERY if hub_type == "delivery" else HOTLINE
        hub_a.append(sub_person[callers].astype(np.int64))
        hub_b.append(np.full(len(callers), people + h, dtype=np.int64))
        hub_kind.append(np.full(len(callers), hk, dtype=np.int8))
    a = np.concatenate([a, *hub_a]).astype(np.int32)
    b = np.concatenate([b, *hub_b]).astype(np.int32)
    kind = np.concatenate([kind, *hub_kind]).astype(np.int8)
    return a, b, kind


def _undirected(src: np.ndarray, dst: np.ndarray, people: int) -> np.ndarray:
    lo = np.minimum(src, dst).astype(np.int64)
    hi = np.maximum(src, dst).astype(np.int64)
    keep = lo != hi
    return _distinct(lo[keep] * people + hi[keep])


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sorting beats numpy 2's hashing ``unique`` on these sizes)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values


def _customers(rng: np.random.Generator, circle: np.ndarray, circle_kind: np.ndarray,
               sub_person: np.ndarray, sub_of_person: np.ndarray, start_day: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who holds each line: families on one account, enterprises and groups, individuals.

    Returns the customer of each subscription (customers numbered by join date), the
    customer type (0 individual, 1 enterprise, 2 group) and the holder's subscription.
    """
    n = len(sub_person)
    c = circle[sub_person]
    on_count = np.bincount(c, minlength=len(circle_kind))
    draw = rng.random(len(circle_kind))
    shared = np.where(circle_kind == FAMILY, (on_count >= 2) & (draw < 0.45),
                      (circle_kind == WORK) & (on_count >= 3) & (draw < 0.4))
    # key: circle for shared accounts, else own line
    owner_key = np.where(shared[c], c.astype(np.int64), len(circle_kind) + np.arange(n))
    keys, account = np.unique(owner_key, return_inverse=True)
    joined = np.full(len(keys), np.iinfo(np.int64).max)
    np.minimum.at(joined, account, start_day)
    # the holder: the account's first on-net member (an adult, see _demography)
    holder_person = np.full(len(keys), np.iinfo(np.int64).max)
    np.minimum.at(holder_person, account, sub_person.astype(np.int64))
    first_sub = sub_of_person[holder_person]
    ctype = np.zeros(len(keys), dtype=np.int8)
    is_circle = keys < len(circle_kind)
    circle_of_key = np.where(is_circle, keys, 0)
    work_account = is_circle & (circle_kind[circle_of_key] == WORK)
    ctype[work_account] = np.where(on_count[circle_of_key[work_account]] >= 25, 2, 1)
    order = np.lexsort((rng.random(len(keys)), joined))
    rank = np.empty(len(keys), dtype=np.int32)
    rank[order] = np.arange(len(keys), dtype=np.int32)
    customer = rank[account]
    customer_type = ctype[order]
    customer_holder = first_sub[order].astype(np.int32)
    return customer, customer_type, customer_holder


def expected_usage(sub_of_person: np.ndarray, n: int, a: np.ndarray, b: np.ndarray,
                   rate: np.ndarray, p_sms: np.ndarray, p_ab: np.ndarray, dur_mu: np.ndarray,
                   kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected outgoing voice minutes and SMS per month of each subscription."""
    minutes_per_call = np.exp(dur_mu + DURATION_SIGMA[kind] ** 2 / 2) / 60 + 0.5
    voice = rate * (1 - p_sms) * minutes_per_call * 30
    sms = rate * p_sms * 30
    sa, sb = sub_of_person[a], sub_of_person[b]
    minutes = np.zeros(n)
    texts = np.zeros(n)
    for side, share in ((sa, p_ab), (sb, 1 - p_ab)):
        ok = side >= 0
        minutes += np.bincount(side[ok], (voice * share)[ok], n)
        texts += np.bincount(side[ok], (sms * share)[ok], n)
    return minutes, texts


def plan_cost(product: int, minutes: np.ndarray, sms: np.ndarray, data_mb: np.ndarray
              ) -> np.ndarray:
    """What a month of this usage costs on a plan: fee plus out-of-bundle charges."""
    _, _, _, _, fee, incl_min, incl_sms, incl_mb, per_min, per_mb = PRODUCTS[product]
    return (fee + np.maximum(0, minutes - incl_min) * per_min
            + np.maximum(0, sms - incl_sms) * SMS_PRICE
            + np.minimum(DATA_CHARGE_CAP, np.maximum(0, data_mb - incl_mb) * per_mb))


def _plans(rng: np.random.Generator, settings: Settings, customer: np.ndarray,
           customer_type: np.ndarray, customer_holder: np.ndarray, sub_person: np.ndarray,
           sub_of_person: np.ndarray, a: np.ndarray, b: np.ndarray, kind: np.ndarray,
           rate: np.ndarray, p_sms: np.ndarray, p_ab: np.ndarray, dur_mu: np.ndarray,
           data_mu: np.ndarray, data_p: np.ndarray, age: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Plan per line: the cheapest fit for its usage, except a share on a wrong plan.

    Mismatch is the log of what the line pays over what its best plan would cost;
    it drives price/plan churn.
    """
    n = len(sub_person)
    minutes, sms = expected_usage(sub_of_person, n, a, b, rate, p_sms, p_ab, dur_mu, kind)
    data_mb = 30 * data_p * np.exp(data_mu + 0.8**2 / 2)
    ctype = customer_type[customer]
    holder = customer_holder[customer]
    shared_family = (ctype == 0) & (np.bincount(customer, minlength=len(ctype))[customer] > 1)
    prepaid = (ctype == 0) & ~shared_family & (
        rng.random(n) < np.where((age < 25) | (age > 65), 0.6, 0.42))
    product = np.empty(n, dtype=np.int8)
    mismatch = np.zeros(n)
    for pay, plans in ((True, PREPAID_PLANS), (False, POSTPAID_PLANS)):
        sel = np.flatnonzero(prepaid == pay) if pay else np.flatnonzero(
            ~prepaid & (ctype == 0) & ~shared_family)
        costs = np.stack([plan_cost(int(p), minutes[sel], sms[sel], data_mb[sel]) for p in plans])
        best = costs.argmin(axis=0)
        wrong = rng.random(len(sel)) < settings.mismatch_share
        choice = np.where(wrong, rng.integers(0, len(plans), len(sel)), best)
        product[sel] = plans[choice]
        rows = np.arange(len(sel))
        mismatch[sel] = np.log(costs[choice, rows] / costs[best, rows])
    product[shared_family] = np.where(holder[shared_family] == np.arange(n)[shared_family],
                                      FAMILY_BUNDLE, FAMILY_SUB_CARD)
    product[ctype > 0] = ENTERPRISE_BUNDLE
    return product, mismatch


def _vas(rng: np.random.Generator, product: np.ndarray) -> np.ndarray:
    """Bit set of value-added services per line (index into ``VAS_PRODUCTS``)."""
    postpaid = np.array([PRODUCTS[p][3] == "postpaid" for p in range(len(PRODUCTS))])[product]
    n = len(product)
    bits = np.zeros(n, dtype=np.int8)
    for i in range(len(VAS_PRODUCTS)):
        p = np.where(postpaid, [0.25, 0.08, 0.10, 0.12, 0.06][i], [0.12, 0.02, 0.04, 0.08, 0.05][i])
        bits |= ((rng.random(n) < p).astype(np.int8) << i)
    return bits


def vas_fee(bits: np.ndarray) -> np.ndarray:
    fee = np.zeros(len(bits))
    for i, p in enumerate(VAS_PRODUCTS):
        fee += ((bits >> i) & 1) * PRODUCTS[p][4]
    return fee
