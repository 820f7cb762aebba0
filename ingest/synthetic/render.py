"""The monthly files: CDRs, data usage, bills, payments, interactions, churn events.

Each day's calls are drawn for all ties at once (Poisson per tie, with the day's
weekly/holiday factor and each party's activity), sorted by time and streamed to
disk, so memory holds one day of events, never a month. Bills are computed from the
usage actually written, so the billing files agree with the CDRs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.contract import CHANNELS, INTERACTION_CATEGORIES, INTERACTION_OUTCOMES
from ingest.synthetic import places
from ingest.synthetic.sink import CsvSink, dates, ids, money, timestamps
from ingest.synthetic.story import NEVER, NON_PAYMENT, PORT_OUT, Story, month_starts
from ingest.synthetic.world import (
    DATA_CHARGE_CAP,
    DURATION_SIGMA,
    PRODUCTS,
    ROAMING_DAY_PASS,
    SMS_PRICE,
    World,
    vas_fee,
)

# rate factor per tie kind on workdays, weekends, public holidays
DAY_FACTOR = np.array([
    [0.9, 1.25, 1.6],   # family
    [1.35, 0.25, 0.15],  # work
    [0.85, 1.4, 1.3],   # friends
    [1.05, 0.9, 0.8],   # weak
    [1.15, 0.6, 0.4],   # hotline
    [1.2, 0.7, 0.9],    # traffic radio
    [1.1, 0.9, 0.3],    # delivery
], dtype=np.float32)

_H = {
    "family_work": [.2, .1, .05, .05, .05, .1, .5, 1.5, 1.5, 1, 1, 1.5, 3, 2, 1, 1, 1.5, 3, 5, 5,
                    5, 4, 2.5, 1],
    "family_off": [.3, .15, .05, .05, .05, .1, .3, .8, 1.5, 3, 4, 4, 3.5, 3, 3, 3.5, 3.5, 4, 4.5,
                   5, 5, 4, 2.5, 1.2],
    "work_work": [.05, .02, .02, .02, .02, .05, .2, .8, 2, 6, 8, 7, 3, 4, 7, 8, 7, 5, 2.5, 1.2,
                  .8, .5, .2, .1],
    "work_off": [.05, .02, .02, .02, .02, .05, .1, .3, .8, 2, 3, 3, 2, 2, 2.5, 2.5, 2, 1.5, 1,
                 .8, .6, .4, .2, .1],
    "friends_work": [.8, .4, .2, .1, .05, .05, .2, .6, .8, 1, 1, 1.5, 2.5, 2, 1, 1, 1.2, 2, 3.5, 4,
                     4.5, 4.5, 3.5, 2],
    "friends_off": [1.5, .8, .4, .2, .1, .05, .1, .3, .6, 1.5, 2.5, 3, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5,
                    4, 4.5, 5, 5, 4, 2.5],
    "weak": [.1, .05, .02, .02, .02, .05, .3, 1, 2, 3, 3.5, 3.5, 2.5, 2.5, 3, 3, 3, 2.5, 2, 1.8,
             1.5, 1, .5, .2],
    "hotline": [.05, .02, .01, .01, .01, .02, .1, .5, 2, 4, 5, 4.5, 2.5, 3, 4.5, 4.5, 4, 3, 2,
                1.5, 1.2, .8, .3, .1],
    "traffic": [.05, .02, .01, .01, .05, .2, 1, 5, 6, 3, 1.5, 1, 1, 1, 1, 1.2, 2, 5, 6, 3, 1.5, 1,
                .5, .2],
    "delivery": [0, 0, 0, 0, 0, 0, 0, .3, 2, 4, 5, 5, 3, 4, 5, 5, 4.5, 3.5, 2, 1, .5, .2, 0, 0],
}
# hour profile per tie kind for [workday, off day]
HOURS = np.array([
    [_H["family_work"], _H["family_off"]],
    [_H["work_work"], _H["work_off"]],
    [_H["friends_work"], _H["friends_off"]],
    [_H["weak"], _H["weak"]],
    [_H["hotline"], _H["hotline"]],
    [_H["traffic"], _H["traffic"]],
    [_H["delivery"], _H["delivery"]],
])
HOUR_CDF = np.cumsum(HOURS / HOURS.sum(axis=2, keepdims=True), axis=2)

PORT_OUT_RECIPIENTS = np.asarray(places.COMPETITORS, dtype=object)  # story.recipient 0, 1
PAY_METHODS = ("cash", "card", "bank_transfer", "wechat", "alipay", "voucher", "direct_debit")
METHOD_SHARES = {
    "postpaid": (0.05, 0.10, 0.05, 0.30, 0.30, 0.0, 0.20),
    "enterprise": (0.0, 0.0, 0.70, 0.0, 0.0, 0.0, 0.30),
    "prepaid": (0.10, 0.05, 0.0, 0.40, 0.35, 0.10, 0.0),
}
TOP_UPS = np.array([10, 20, 30, 50, 100, 200, 300], dtype=np.float64)
EVENT_TYPES = pa.array(["voice", "sms"])
CHANNEL_HOURS = {"store": (9, 21), "call_centre": (8, 22), "web": (7, 24), "app": (7, 24),
                 "sms": (8, 22), "account_manager": (9, 18)}


def number_variants(world: World) -> pa.Array:
    """Four written forms of every number: E.164, national, 86-prefixed, spaced.

    Index ``form * n_nodes + node``. The CDR files mix them the way real switch exports
    do; everywhere else numbers are written in E.164.
    """
    digits = world.number
    text = pc.cast(pa.array(digits), pa.string())
    national = pc.utf8_slice_codeunits(text, 2)
    mobile = pa.array(digits >= 86 * 10**11 + 10**10)  # +86 1xx xxxx xxxx
    e164 = pc.binary_join_element_wise("+", text, "")
    trunk = pc.if_else(mobile, national, pc.binary_join_element_wise("0", national, ""))
    spaced_mobile = pc.binary_join_element_wise(
        "+86 ", pc.utf8_slice_codeunits(national, 0, 3), " ",
        pc.utf8_slice_codeunits(national, 3, 7), " ", pc.utf8_slice_codeunits(national, 7), "")
    spaced = pc.if_else(mobile, spaced_mobile, _spaced_all(digits))
    return pa.concat_arrays([e164, trunk, text, spaced])


def _spaced(number: int) -> str:
    import phonenumbers

    parsed = phonenumbers.parse("+" + str(number))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _spaced_all(digits: np.ndarray) -> pa.Array:
    """International format of the (few) fixed-line and 400 numbers, others left empty."""
    out: list[str | None] = [None] * len(digits)
    for i in np.flatnonzero(digits < 86 * 10**11 + 10**10):
        out[i] = _spaced(int(digits[i]))
    return pa.array(out, type=pa.string())


class MonthWriter:
    """Writes the monthly files one month at a time, carrying billing state across months."""

    def __init__(self, world: World, story: Story, out_dir: Path) -> None:
        self.world = world
        self.story = story
        self.out_dir = out_dir
        self.variants = number_variants(world)
        self.e164 = self.variants.take(pa.array(world.sub_person.astype(np.int64)))
        self.sub_ids = ids("S", 100_000_001 + np.arange(world.n_subs), 9)
        self.customer_ids = ids("C", 10_000_001 + np.arange(world.n_customers), 8)
        n = world.n_subs
        self.bounds = month_starts(world)
        self.prev_total = np.zeros(n)
        self.prev_arrears = np.zeros(n)
        self.prev_billed = np.zeros(n, dtype=bool)
        self.prev_issue = 0
        self.prev_period = ""
        self.postpaid = np.array([p[3] == "postpaid" for p in PRODUCTS])[world.product]
        self.ctype = world.customer_type[world.customer]
        self.rows: dict[str, int] = {}

    # -- activity ---------------------------------------------------------------------
    def activity(self, t: int) -> np.ndarray:
        """How active each line is on day ``t`` (0 before activation and after leaving)."""
        w, s = self.world, self.story
        until = s.churn_day - t
        ramp = np.where(until <= s.drop_days, 0.25 + 0.75 * until / np.maximum(s.drop_days, 1),
                        1.0)
        suspended = (t >= s.suspend_day) & (t < s.cure_day)
        on = (w.start_day - w.day0 <= t) & (t < s.churn_day)
        return np.where(on, ramp * np.where(suspended, 0.15, 1.0), 0.0).astype(np.float32)

    # -- month ----------------------------------------------------------------------
    def write_month(self, m: int, tick: Callable[[], None] | None = None) -> None:
        w = self.world
        first, last = int(self.bounds[m]), int(self.bounds[m + 1])
        period = str(np.datetime64(w.settings.start_month, "M") + m)
        tag = period.replace("-", "")
        n = w.n_subs
        rng = np.random.default_rng([w.settings.seed, 3, m])
        roam_bits, intl = self._roaming(rng, first, last)
        minutes = np.zeros(n)
        sms = np.zeros(n)
        data_mb = np.zeros(n)
        interactions: list[dict[str, np.ndarray]] = []
        day_list = [date.fromordinal(date(1970, 1, 1).toordinal() + w.day0 + t)
                    for t in range(first, last)]
        kinds = places.day_types(day_list)
        record = 0
        with CsvSink.for_entity(self.out_dir, "cdrs", period, background=True) as cdrs, \
                CsvSink.for_entity(self.out_dir, "data_usage", period, background=True) as usage:
            for i, t in enumerate(range(first, last)):
                day_rng = np.random.default_rng([w.settings.seed, 4, t])
                act = self.activity(t)
                eve = day_list[i] in places.festival_eves(day_list[i].year)
                record = self._calls(day_rng, t, i, int(kinds[i]), eve, act, roam_bits, cdrs,
                                     record, tag, minutes, sms)
                self._data(day_rng, t, i, int(kinds[i]), act, roam_bits, usage, data_mb)
                interactions.append(self._contacts(day_rng, t, act))
                if tick is not None:
                    tick()
        self.rows[cdrs.path.name] = cdrs.rows
        self.rows[usage.path.name] = usage.rows
        self._bills_and_payments(rng, m, period, tag, first, last, minutes, sms, data_mb, intl)
        self._interactions(rng, period, tag, first, last, interactions)
        self._churn_events(period, tag, first, last)

    def _roaming(self, rng: np.random.Generator, first: int, last: int
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Days away from home per line (bit per day of month): holidays and business trips."""
        w = self.world
        n = w.n_subs
        day_list = [date.fromordinal(date(1970, 1, 1).toordinal() + w.day0 + t)
                    for t in range(first, last)]
        kinds = places.day_types(day_list)
        bits = np.zeros(n, dtype=np.uint32)
        holiday_bits = 0
        for i, k in enumerate(kinds):
            if k == 2:
                holiday_bits |= 1 << i
        travel = rng.random(n) < w.travel_p
        if holiday_bits:
            bits[travel] |= np.uint32(holiday_bits)
        workdays = np.flatnonzero(kinds == 0)
        trip = rng.random(n) < w.business_trip_p
        if len(workdays):
            begin = workdays[rng.integers(0, len(workdays), n)]
            length = rng.integers(1, 5, n)
            for k in range(4):
                day = np.minimum(begin + k, last - first - 1)
                add = trip & (k < length)
                bits[add] |= (np.uint32(1) << day[add].astype(np.uint32))
        intl = travel & (rng.random(n) < w.international_p)
        intl_days = np.where(intl, bin(holiday_bits).count("1"), 0)
        return bits, intl_days

    def _calls(self, rng: np.random.Generator, t: int, i: int, kind_of_day: int, eve: bool,
               act: np.ndarray, roam_bits: np.ndarray, sink: CsvSink, record: int, tag: str,
               minutes: np.ndarray, sms: np.ndarray) -> int:
        w = self.world
        node_act = np.ones(w.n_nodes, dtype=np.float32)
        node_act[w.sub_person] = act
        lam = w.rate * DAY_FACTOR[w.kind, kind_of_day] * node_act[w.a] * node_act[w.b]
        counts = rng.poisson(lam)
        e = np.repeat(np.arange(len(lam), dtype=np.int64), counts)
        # time of day first, so the rest is drawn directly in time order
        k = w.kind[e]
        u = rng.random(len(e))
        hour = np.zeros(len(e), dtype=np.int64)
        off = 0 if kind_of_day == 0 else 1
        for kk in range(HOUR_CDF.shape[0]):
            sel = k == kk
            hour[sel] = np.searchsorted(HOUR_CDF[kk, off], u[sel], side="right")
        second = np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, len(e))
        order = np.argsort(second, kind="stable")
        e, k, second = e[order], k[order], second[order]
        forward = rng.random(len(e)) < w.p_ab[e]
        caller = np.where(forward, w.a[e], w.b[e])
        callee = np.where(forward, w.b[e], w.a[e])
        is_sms = rng.random(len(e)) < np.minimum(0.95, w.p_sms[e] * (4.0 if eve else 1.0))
        talk = np.exp(w.dur_mu[e] + DURATION_SIGMA[k] * rng.standard_normal(len(e)))
        duration = np.where(is_sms, 0, np.clip(np.round(talk), 1, 10800)).astype(np.int64)
        caller_sub = w.sub_of_person[caller]
        roaming = (caller_sub >= 0) & (
            (roam_bits[np.maximum(caller_sub, 0)] >> np.uint32(i)) & 1).astype(bool)
        forms = np.asarray(w.settings.cdr_format_shares)
        form_a = rng.choice(4, len(e), p=forms / forms.sum())
        form_b = rng.choice(4, len(e), p=forms / forms.sum())
        month_base = int(tag) * 10**10
        sink.write({
            "record_id": month_base + record + 1 + np.arange(len(e), dtype=np.int64),
            "caller": self.variants.take(pa.array(form_a * w.n_nodes + caller)),
            "callee": self.variants.take(pa.array(form_b * w.n_nodes + callee)),
            "start_time": timestamps((w.day0 + t) * 86400 + second),
            "duration_s": duration,
            "event_type": EVENT_TYPES.take(pa.array(is_sms.astype(np.int8))),
            "roaming": roaming,
        })
        on = caller_sub >= 0
        voice = on & ~is_sms
        minutes += np.bincount(caller_sub[voice], np.ceil(duration[voice] / 60), w.n_subs)
        sms += np.bincount(caller_sub[on & is_sms], minlength=w.n_subs)
        return record + len(e)

    def _data(self, rng: np.random.Generator, t: int, i: int, kind_of_day: int, act: np.ndarray,
              roam_bits: np.ndarray, sink: CsvSink, data_mb: np.ndarray) -> None:
        w = self.world
        used = (act > 0) & (rng.random(w.n_subs) < w.data_p * np.minimum(1.0, act + 0.2))
        factor = 1.15 if kind_of_day else 1.0
        mb = np.round(np.exp(w.data_mu + 0.8 * rng.standard_normal(w.n_subs)) * factor * act, 2)
        rows = np.flatnonzero(used & (mb > 0))
        data_mb += np.bincount(rows, mb[rows], w.n_subs)
        sink.write({
            "msisdn": self.e164.take(pa.array(rows)),
            "usage_date": dates(np.full(len(rows), w.day0 + t)),
            "megabytes": mb[rows],
            "roaming": ((roam_bits[rows] >> np.uint32(i)) & 1).astype(bool),
        })

    def _contacts(self, rng: np.random.Generator, t: int, act: np.ndarray
                  ) -> dict[str, np.ndarray]:
        """One day's customer contacts: enquiries, complaints, billing, plan changes."""
        w, s = self.world, self.story
        n = w.n_subs
        alive = act > 0
        severity = s.severity(t)
        past_due = (s.delinquent_from < NEVER) & (t >= s.suspend_day - 10) & (t < s.cure_day)
        rates = np.stack([
            np.full(n, 0.004),                               # enquiry
            0.0006 + 0.05 * severity,                        # complaint
            0.0006 + 0.03 * severity,                        # technical
            0.0015 + 0.05 * past_due,                        # billing
            0.0005 + 0.004 * (w.mismatch > 0.3),             # plan_change
            np.full(n, 0.001),                               # purchase
        ]) * alive
        total = rates.sum(axis=0)
        hit = np.flatnonzero(rng.random(n) < total)
        cum = np.cumsum(rates[:, hit], axis=0)
        category = (rng.random(len(hit)) * total[hit] > cum).sum(axis=0)
        return {"sub": hit, "category": category, "day": np.full(len(hit), t),
                "trouble": severity[hit] > 0.3, "reminder": past_due[hit] & (category == 3)}

    # -- billing ----------------------------------------------------------------------
    def _bills_and_payments(self, rng: np.random.Generator, m: int, period: str, tag: str,
                            first: int, last: int, minutes: np.ndarray, sms: np.ndarray,
                            data_mb: np.ndarray, intl_days: np.ndarray) -> None:
        w, s = self.world, self.story
        start = w.start_day - w.day0
        active_days = np.clip(np.minimum(last, s.churn_day) - np.maximum(first, start), 0, None)
        frac = active_days / (last - first)
        billed = active_days > 0
        product = w.product
        table = np.array([p[4:] for p in PRODUCTS], dtype=np.float64)
        fee, incl_min, incl_sms, incl_mb, per_min, per_mb = table[product].T
        recurring = fee * frac
        voice_charge = np.maximum(0, minutes - incl_min * frac) * per_min
        sms_charge = np.maximum(0, sms - incl_sms * frac) * SMS_PRICE
        over_mb = np.maximum(0, data_mb - incl_mb * frac)
        data_charge = np.minimum(DATA_CHARGE_CAP, over_mb * per_mb)
        vas_charge = vas_fee(w.vas) * frac
        roaming_charge = intl_days * ROAMING_DAY_PASS * billed
        parts = [np.round(x, 2) for x in (recurring, voice_charge, sms_charge, data_charge,
                                          vas_charge, roaming_charge)]
        total = np.round(sum(parts), 2)
        issue = w.day0 + last - 1
        # arrears carried: unpaid balance of a line that stopped paying and has not caught up
        behind = (s.delinquent_from <= m - 1) & (s.cure_day > last - 1)
        carried = np.where(self.prev_billed, self.prev_total + self.prev_arrears,
                           np.maximum(0, -s.delinquent_from) * fee * 1.05)
        arrears = np.where(behind & self.postpaid, np.round(carried, 2), 0.0)
        rows = np.flatnonzero(billed)
        bill_ids = ids("B" + tag, 100_000_001 + rows, 9)
        post = self.postpaid[rows]
        with CsvSink.for_entity(self.out_dir, "bills", period) as sink:
            sink.write({
                "bill_id": bill_ids,
                "subscription_id": self.sub_ids.take(pa.array(rows)),
                "period": np.full(len(rows), period, dtype=object),
                "issue_date": dates(np.full(len(rows), issue)),
                "due_date": dates(np.full(len(rows), issue + 15), mask=~post),
                "recurring_charge": money(parts[0][rows]),
                "voice_charge": money(parts[1][rows]),
                "sms_charge": money(parts[2][rows]),
                "data_charge": money(parts[3][rows]),
                "vas_charge": money(parts[4][rows]),
                "roaming_charge": money(parts[5][rows]),
                "total_amount": money(total[rows]),
                "arrears": money(arrears[rows], mask=~post),
            })
        self.rows[sink.path.name] = sink.rows
        self._payments(rng, m, period, tag, first, last, total)
        self.prev_total = np.where(billed & self.postpaid, total, 0.0)
        self.prev_arrears = np.where(billed, arrears, 0.0)
        self.prev_billed = billed & self.postpaid
        self.prev_issue = last - 1
        self.prev_period = tag

    def _payments(self, rng: np.random.Generator, m: int, period: str, tag: str, first: int,
                  last: int, total: np.ndarray) -> None:
        w, s = self.world, self.story
        subs_parts, bill_parts, day_parts, amount_parts = [], [], [], []
        if m > 0:
            issue = self.prev_issue
            owes = self.prev_billed & ((self.prev_total + self.prev_arrears) > 0)
            behind = (s.delinquent_from <= m - 1) & (s.cure_day > issue)
            regular = np.flatnonzero(owes & ~behind)
            late = w.late_payer[regular]
            pay_day = np.where(late, issue + 15 + rng.integers(1, 13, len(regular)),
                               issue + rng.integers(1, 16, len(regular)))
            paid = np.flatnonzero(owes & (s.cure_day >= first) & (s.cure_day < last) & behind)
            subs_parts += [regular, paid]
            day_parts += [pay_day, s.cure_day[paid]]
            amount_parts += [self.prev_total[regular] + self.prev_arrears[regular],
                             self.prev_total[paid] + self.prev_arrears[paid]]
            bill_parts += [np.ones(len(regular) + len(paid), dtype=bool)]
        # prepaid top-ups: one to three a month, in round denominations
        prepaid = np.flatnonzero(~self.postpaid & (total > 0))
        count = 1 + np.minimum(rng.poisson(0.7, len(prepaid)), 2)
        who = np.repeat(prepaid, count)
        want = total[who] / count.repeat(count) * rng.uniform(0.9, 1.6, len(who))
        amount = TOP_UPS[np.minimum(np.searchsorted(TOP_UPS, want), len(TOP_UPS) - 1)]
        start = np.maximum(first, w.start_day[who] - w.day0)
        stop = np.minimum(last, s.churn_day[who])
        day = start + (rng.random(len(who)) * np.maximum(stop - start, 1)).astype(np.int64)
        subs_parts.append(who)
        day_parts.append(day)
        amount_parts.append(amount)
        bill_parts.append(np.zeros(len(who), dtype=bool))
        sub = np.concatenate(subs_parts).astype(np.int64)
        day = np.concatenate(day_parts).astype(np.int64)
        amount = np.concatenate(amount_parts)
        has_bill = np.concatenate(bill_parts)
        keep = (day >= first) & (day < last)
        sub, day, amount, has_bill = sub[keep], day[keep], amount[keep], has_bill[keep]
        seconds = (w.day0 + day) * 86400 + rng.integers(7 * 3600, 23 * 3600, len(sub))
        order = np.lexsort((sub, seconds))
        sub, seconds, amount, has_bill = sub[order], seconds[order], amount[order], has_bill[order]
        method = np.empty(len(sub), dtype=np.int64)
        group = np.where(~self.postpaid[sub], 2, np.where(self.ctype[sub] > 0, 1, 0))
        for g, key in enumerate(("postpaid", "enterprise", "prepaid")):
            sel = group == g
            method[sel] = rng.choice(7, int(sel.sum()), p=METHOD_SHARES[key])
        bill = ids("B" + (self.prev_period or tag), 100_000_001 + sub, 9)
        with CsvSink.for_entity(self.out_dir, "payments", period) as sink:
            sink.write({
                "payment_id": ids("PAY" + tag, 1 + np.arange(len(sub)), 8),
                "subscription_id": self.sub_ids.take(pa.array(sub)),
                "bill_id": pc.if_else(pa.array(has_bill), bill, pa.scalar(None, pa.string())),
                "paid_at": timestamps(seconds),
                "amount": money(amount),
                "method": np.asarray(PAY_METHODS, dtype=object)[method],
            })
        self.rows[sink.path.name] = sink.rows

    # -- interactions and churn -----------------------------------------------------------
    def _interactions(self, rng: np.random.Generator, period: str, tag: str, first: int,
                      last: int, days: list[dict[str, np.ndarray]]) -> None:
        w, s = self.world, self.story
        sub = np.concatenate([d["sub"] for d in days]).astype(np.int64)
        category = np.concatenate([d["category"] for d in days]).astype(np.int64)
        day = np.concatenate([d["day"] for d in days]).astype(np.int64)
        trouble = np.concatenate([d["trouble"] for d in days])
        reminder = np.concatenate([d["reminder"] for d in days])
        cat_index = np.array([INTERACTION_CATEGORIES.index(c) for c in (
            "enquiry", "complaint", "technical", "billing", "plan_change", "purchase")])
        category = cat_index[category]
        # leaving: the port-out authorisation SMS, or a visit to the store
        leaving = np.flatnonzero((s.churn_day >= first) & (s.churn_day < last)
                                 & (s.churn_type != NON_PAYMENT))
        port = s.churn_type[leaving] == PORT_OUT
        leave_day = np.maximum(first, s.churn_day[leaving] - np.where(
            port, rng.integers(1, 4, len(leaving)), 0))
        sub = np.concatenate([sub, leaving])
        day = np.concatenate([day, leave_day])
        category = np.concatenate([category, np.full(len(leaving),
                                                     INTERACTION_CATEGORIES.index("cancellation"))])
        trouble = np.concatenate([trouble, np.zeros(len(leaving), dtype=bool)])
        forced = np.concatenate([np.where(reminder, CHANNELS.index("sms"), -1),
                                 np.where(port, CHANNELS.index("sms"), CHANNELS.index("store"))])
        channel = self._channels(rng, sub, category)
        channel = np.where(forced >= 0, forced, channel)
        lo = np.array([CHANNEL_HOURS[c][0] for c in CHANNELS])[channel]
        hi = np.array([CHANNEL_HOURS[c][1] for c in CHANNELS])[channel]
        seconds = (w.day0 + day) * 86400 + (lo * 3600 + rng.random(len(sub)) * (hi - lo) * 3600
                                            ).astype(np.int64)
        outcome = np.where(trouble, rng.choice(3, len(sub), p=[0.35, 0.45, 0.2]),
                           rng.choice(3, len(sub), p=[0.75, 0.17, 0.08]))
        order = np.lexsort((sub, seconds))
        sub, seconds, category, channel, outcome = (sub[order], seconds[order], category[order],
                                                    channel[order], outcome[order])
        with CsvSink.for_entity(self.out_dir, "interactions", period) as sink:
            sink.write({
                "interaction_id": ids("I" + tag, 1 + np.arange(len(sub)), 8),
                "customer_id": self.customer_ids.take(pa.array(w.customer[sub])),
                "msisdn": self.e164.take(pa.array(sub)),
                "channel": np.asarray(CHANNELS, dtype=object)[channel],
                "occurred_at": timestamps(seconds),
                "category": np.asarray(INTERACTION_CATEGORIES, dtype=object)[category],
                "outcome": np.asarray(INTERACTION_OUTCOMES, dtype=object)[outcome],
            })
        self.rows[sink.path.name] = sink.rows

    def _channels(self, rng: np.random.Generator, sub: np.ndarray, category: np.ndarray
                  ) -> np.ndarray:
        """Channel by who the customer is: account managers for enterprises, app for the young."""
        w = self.world
        age = w.age[sub]
        ctype = self.ctype[sub]
        # store, call_centre, web, app, sms, account_manager
        shares = np.array([
            [0.15, 0.20, 0.10, 0.45, 0.10, 0.0],   # under 35
            [0.20, 0.30, 0.10, 0.30, 0.10, 0.0],   # 35-60
            [0.45, 0.45, 0.0, 0.05, 0.05, 0.0],    # over 60
            [0.0, 0.25, 0.20, 0.0, 0.0, 0.55],     # enterprise and group lines
        ])
        group = np.where(ctype > 0, 3, np.where(age < 35, 0, np.where(age <= 60, 1, 2)))
        cum = np.cumsum(shares, axis=1)[group]
        channel = (rng.random(len(sub))[:, None] > cum).sum(axis=1)
        complaint = np.isin(category, [INTERACTION_CATEGORIES.index("complaint"),
                                       INTERACTION_CATEGORIES.index("technical")])
        # complaints come by phone or in person more often
        redirect = complaint & (ctype == 0) & (rng.random(len(sub)) < 0.4)
        return np.where(redirect, rng.choice([0, 1], len(sub), p=[0.3, 0.7]),
                        np.minimum(channel, 5))

    def _churn_events(self, period: str, tag: str, first: int, last: int) -> None:
        s = self.story
        rows = np.flatnonzero((s.churn_day >= first) & (s.churn_day < last))
        rows = rows[np.lexsort((rows, s.churn_day[rows]))]
        types = np.asarray(("port_out", "termination", "non_payment"), dtype=object)
        recipient = PORT_OUT_RECIPIENTS[
            np.maximum(s.recipient[rows], 0)]
        with CsvSink.for_entity(self.out_dir, "churn_events", period) as sink:
            sink.write({
                "event_id": ids("E" + tag, 1 + np.arange(len(rows)), 6),
                "subscription_id": self.sub_ids.take(pa.array(rows)),
                "churn_date": dates(self.world.day0 + s.churn_day[rows]),
                "churn_type": types[s.churn_type[rows]],
                "recipient_operator": pa.array(recipient, type=pa.string(),
                                               mask=s.churn_type[rows] != PORT_OUT),
            })
        self.rows[sink.path.name] = sink.rows
