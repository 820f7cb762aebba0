"""The precision-marketing loop (精确营销): target → execute → record responses → evaluate.

* :func:`target` turns a campaign's target definition (segments, tags, value tiers,
  churn-risk range, circles; exclusions) into a ranked list in one SQL statement, with a
  **control group drawn by hash**: a customer is held out when
  ``md5(seed:campaign:customer)`` falls below the control share. The draw is random with
  respect to everything about the customer, yet the same customer lands in the same group
  every time the list is rebuilt (no stored random state to lose). The budget caps the
  treated contacts; controls are kept in proportion.
* :func:`record_contacts` executes the list (one channel per treated customer: the one
  they use most among the campaign's channels, else a hashed pick);
  :func:`record_responses` is what the API mutation calls; responses from the operator's
  CRM arrive through the periodic ingest (``campaign_contacts``/``campaign_responses``).
  Evaluation reads both.
* :func:`evaluate` compares treated with control: response and retention rates, the
  uplift (difference of proportions) with **Newcombe's hybrid score interval** (method 10
  of Newcombe 1998, built from Wilson intervals; unlike Wald it stays inside [-1, 1] and
  keeps its coverage when a group has 0 or all responders, common with small control
  groups), incremental responders and revenue, cost and ROI; overall, per channel (each
  channel's treated against the whole control group, which was never contacted) and per
  segment.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pandas as pd
from scipy.stats import norm

from graph.snapshot import Snapshot, SnapshotStore
from graph.warehouse import latest_cutoff, new_run_id, table_exists

__all__ = [
    "CHANNELS", "Campaign", "TargetDefinition", "campaign_from_dict", "evaluate",
    "evaluate_all", "evaluate_campaign", "newcombe_interval", "plan_campaign", "record_contacts",
    "record_responses", "record_snapshot_responses", "store_targets", "target",
    "wald_interval", "wilson_interval",
]

CHANNELS = ("store", "call_centre", "web", "app", "sms", "account_manager")
RESPONSES = ("accepted", "declined", "clicked")
PLANS_TABLE = "campaign_plans"
TARGETS_TABLE = "campaign_targets"
EXECUTED_TABLE = "campaign_executed_contacts"
RECORDED_TABLE = "campaign_recorded_responses"
HASH_SCALE = 1_000_000


@dataclass
class TargetDefinition:
    """Who a campaign is for. Empty lists mean "no condition"; lists are ORed inside,
    conditions ANDed together."""

    segments: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    value_tiers: list[str] = field(default_factory=list)
    churn_risk_min: float | None = None
    churn_risk_max: float | None = None
    circles: list[int] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    exclude_do_not_contact: bool = True
    exclude_contacted_days: int | None = 30
    """Leave out customers contacted by any campaign in the last N days (None: keep)."""
    exclude_churned: bool = True
    prefer_influencers_of_at_risk_circles: bool = False
    """Rank influencers of circles that are losing members first (network-aware)."""
    at_risk_circle_churn_rate: float = 0.1
    limit: int | None = None


@dataclass
class Campaign:
    """A campaign as planned by the marketing team."""

    campaign_id: str
    name: str
    objective: str = "retention"
    offer: str = ""
    channels: list[str] = field(default_factory=lambda: ["sms"])
    start_date: date | None = None
    end_date: date | None = None
    budget: float | None = None
    cost_per_contact: float = 0.0
    control_share: float = 0.1
    target: TargetDefinition = field(default_factory=TargetDefinition)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.control_share < 1:
            raise ValueError(f"campaign {self.campaign_id!r}: control share must be in [0, 1)")
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or not self.channels:
            raise ValueError(f"campaign {self.campaign_id!r}: unknown channel(s) {unknown}; "
                             f"use {', '.join(CHANNELS)}")
        if self.cost_per_contact < 0 or (self.budget is not None and self.budget < 0):
            raise ValueError(f"campaign {self.campaign_id!r}: negative budget or cost")

    def as_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)


def campaign_from_dict(data: dict[str, Any]) -> Campaign:
    data = dict(data)
    target = TargetDefinition(**(data.pop("target", None) or {}))
    for key in ("start_date", "end_date"):
        if isinstance(data.get(key), str):
            data[key] = date.fromisoformat(data[key])
    return Campaign(**data, target=target)


# ---------------------------------------------------------------------------
# Targeting
# ---------------------------------------------------------------------------


def _bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` uses (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    return {k: v for k, v in params.items() if k in used}


def _need(con: duckdb.DuckDBPyConnection, table: str, what: str, campaign: Campaign) -> None:
    if not table_exists(con, table):
        raise ValueError(f"campaign {campaign.campaign_id!r}: targeting by {what} needs the "
                         f"{table} table (run `callcircle score` / tag the snapshot first)")


def target(con: duckdb.DuckDBPyConnection, campaign: Campaign, *, as_of: date | None = None
           ) -> pd.DataFrame:
    """The ranked target list with its treatment/control split (read-only on ``con``).

    ``as_of`` (default: the campaign's start, else today) dates the exclusions and picks
    the latest scores, segments, tags and circles at or before it.
    """
    t = campaign.target
    as_of = as_of or campaign.start_date or date.today()
    params: dict[str, Any] = {"campaign": campaign.campaign_id, "seed": str(campaign.seed),
                              "share": float(campaign.control_share), "as_of": as_of}
    where: list[str] = []
    joins: list[str] = []
    value_cutoff = latest_cutoff(con, "customer_value", at_most=as_of)
    if value_cutoff is not None:
        params["vc"] = value_cutoff
        joins.append("LEFT JOIN customer_value v ON v.customer_id = c.customer_id "
                     "AND v.cutoff = $vc")
        risk, value, tier = "v.churn_risk", "v.clv", "v.value_tier"
    else:
        risk, value, tier = "NULL::DOUBLE", "NULL::DOUBLE", "NULL::VARCHAR"
    if t.value_tiers:
        _need(con, "customer_value", "value tier", campaign)
        params["tiers"] = list(t.value_tiers)
        where.append(f"list_contains($tiers, {tier})")
    if t.churn_risk_min is not None or t.churn_risk_max is not None:
        _need(con, "customer_value", "churn risk", campaign)
        params["rmin"] = float(t.churn_risk_min if t.churn_risk_min is not None else 0.0)
        params["rmax"] = float(t.churn_risk_max if t.churn_risk_max is not None else 1.0)
        where.append(f"{risk} BETWEEN $rmin AND $rmax")
    if t.segments:
        _need(con, "segment_members", "segment", campaign)
        params["segs"] = [int(s) for s in t.segments]
        params["sc"] = latest_cutoff(con, "segment_members", at_most=as_of)
        where.append("c.customer_id IN (SELECT customer_id FROM segment_members "
                     "WHERE cutoff = $sc AND list_contains($segs, segment_id))")
    tag_cutoff = latest_cutoff(con, "tag_assignments", at_most=as_of)
    if t.tags or t.exclude_tags:
        _need(con, "tag_assignments", "tag", campaign)
        params["tc"] = tag_cutoff
    if t.tags:
        params["tags"] = list(t.tags)
        where.append("c.customer_id IN (SELECT customer_id FROM tag_assignments "
                     "WHERE cutoff = $tc AND list_contains($tags, tag_id))")
    if t.exclude_tags:
        params["xtags"] = list(t.exclude_tags)
        where.append("c.customer_id NOT IN (SELECT customer_id FROM tag_assignments "
                     "WHERE cutoff = $tc AND list_contains($xtags, tag_id))")
    circle_cutoff = latest_cutoff(con, "circle_members", at_most=as_of)
    if t.circles:
        _need(con, "circle_members", "circle", campaign)
        params["circles"] = [int(x) for x in t.circles]
        params["cc"] = circle_cutoff
        where.append("c.customer_id IN (SELECT n.customer_id FROM circle_members m JOIN "
                     "numbers n ON n.msisdn = m.msisdn WHERE m.cutoff = $cc "
                     "AND list_contains($circles, m.circle_id))")
    if t.exclude_do_not_contact:
        where.append("NOT coalesce(c.do_not_contact, false)")
    if t.exclude_churned:
        # still holds a line on the as-of day
        left = ("AND subscription_id NOT IN (SELECT subscription_id FROM churn_events "
                "WHERE churn_date <= $as_of)" if table_exists(con, "churn_events") else "")
        where.append("c.customer_id IN (SELECT customer_id FROM subscriptions WHERE "
                     "start_date <= $as_of AND (end_date IS NULL OR end_date > $as_of) "
                     f"{left})")
    if t.exclude_contacted_days is not None:
        params["since"] = pd.Timestamp(as_of) - pd.Timedelta(days=int(t.exclude_contacted_days))
        sources = [f"SELECT customer_id, contacted_at FROM {name}"
                   for name in ("campaign_contacts", EXECUTED_TABLE) if table_exists(con, name)]
        if sources:
            where.append(f"c.customer_id NOT IN (SELECT customer_id FROM "
                         f"({' UNION ALL '.join(sources)}) WHERE contacted_at >= $since "
                         f"AND contacted_at < $as_of + INTERVAL 1 DAY)")
    influencer = "false"
    if t.prefer_influencers_of_at_risk_circles:
        _need(con, "circle_members", "network-aware ranking", campaign)
        _need(con, "circles", "network-aware ranking", campaign)
        params["cc"] = circle_cutoff
        params["atrisk"] = float(t.at_risk_circle_churn_rate)
        joins.append("LEFT JOIN (SELECT n.customer_id, true AS hub FROM circle_members m "
                     "JOIN circles k ON k.cutoff = m.cutoff AND k.circle_id = m.circle_id "
                     "JOIN numbers n ON n.msisdn = m.msisdn WHERE m.cutoff = $cc AND "
                     "m.is_influencer AND k.churn_rate >= $atrisk GROUP BY 1) h "
                     "ON h.customer_id = c.customer_id")
        influencer = "coalesce(h.hub, false)"
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"""
        WITH eligible AS (
            SELECT c.customer_id, {risk} AS churn_risk, {value} AS clv, {tier} AS value_tier,
                   {influencer} AS influencer_of_at_risk_circle,
                   md5_number($seed || ':' || $campaign || ':' || c.customer_id)
                       % {HASH_SCALE} / {HASH_SCALE}.0 AS draw
            FROM customers c {' '.join(joins)} {clause}
        ), ranked AS (
            SELECT *, CASE WHEN draw < $share THEN 'control' ELSE 'treatment' END
                          AS contact_group,
                   row_number() OVER (ORDER BY influencer_of_at_risk_circle DESC,
                                      churn_risk DESC NULLS LAST, clv DESC NULLS LAST,
                                      customer_id) AS priority
            FROM eligible
        )
        SELECT $campaign AS campaign_id, customer_id, contact_group, priority, draw,
               churn_risk, clv, value_tier, influencer_of_at_risk_circle,
               count(*) FILTER (WHERE contact_group = 'treatment')
                   OVER (ORDER BY priority) AS treated_so_far
        FROM ranked ORDER BY priority
    """
    frame = con.execute(sql, _bind(sql, params)).df()
    cap = None
    if campaign.budget is not None and campaign.cost_per_contact > 0:
        cap = math.floor(campaign.budget / campaign.cost_per_contact + 1e-9)
    if t.limit is not None:
        frame = frame[frame["priority"] <= t.limit]
    if cap is not None:
        frame = frame[frame["treated_so_far"] <= cap]
        # stop at the last row inside the cap, so the controls stay in proportion
        if len(frame) and (frame["treated_so_far"] == cap).any():
            last = frame.index[frame["treated_so_far"] == cap][0]
            frame = frame.loc[:last]
    frame = frame.drop(columns="treated_so_far").reset_index(drop=True)
    frame.insert(1, "seed", campaign.seed)
    frame["targeted_on"] = as_of
    return frame


def store_targets(con: duckdb.DuckDBPyConnection, campaign: Campaign,
                  targets: pd.DataFrame) -> None:
    """Keep the plan and its list in the warehouse (replacing an earlier list)."""
    for table, frame in ((PLANS_TABLE, pd.DataFrame([{
            "campaign_id": campaign.campaign_id, "name": campaign.name,
            "objective": campaign.objective, "offer": campaign.offer,
            "channels": ";".join(campaign.channels), "start_date": campaign.start_date,
            "end_date": campaign.end_date, "budget": campaign.budget,
            "cost_per_contact": campaign.cost_per_contact,
            "control_share": campaign.control_share, "seed": campaign.seed,
            "definition": campaign.as_json(),
            "planned_at": datetime.now(UTC).replace(tzinfo=None)}])),
            (TARGETS_TABLE, targets)):
        con.register("_campaign_rows", frame)
        if not table_exists(con, table):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _campaign_rows WHERE FALSE")
        con.execute(f"DELETE FROM {table} WHERE campaign_id = ?", [campaign.campaign_id])
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _campaign_rows")
        con.unregister("_campaign_rows")


def record_contacts(con: duckdb.DuckDBPyConnection, campaign_id: str, *,
                    contacted_at: datetime | None = None) -> pd.DataFrame:
    """Execute a stored list: one contact row per target (control rows without channel),
    each treated customer on the campaign channel they use most, else a hashed pick."""
    if not table_exists(con, TARGETS_TABLE):
        raise ValueError(f"campaign {campaign_id!r}: no target list; call target() first")
    plan = con.execute(f"SELECT channels FROM {PLANS_TABLE} WHERE campaign_id = ?",
                       [campaign_id]).fetchall()
    if not plan:
        raise ValueError(f"campaign {campaign_id!r}: not planned")
    channels = plan[0][0].split(";")
    when = contacted_at or datetime.now(UTC).replace(tzinfo=None)
    preferred = ("SELECT customer_id, arg_max(channel, n) AS channel FROM (SELECT "
                 "customer_id, channel, count(*) AS n FROM interactions WHERE "
                 "list_contains($channels, channel) GROUP BY ALL) GROUP BY 1"
                 if table_exists(con, "interactions") else
                 "SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS channel WHERE false")
    msisdn = ("(SELECT min(msisdn) FROM subscriptions s WHERE s.customer_id = t.customer_id "
              "AND s.end_date IS NULL)" if table_exists(con, "subscriptions") else "NULL")
    rows = con.execute(f"""
        WITH pref AS ({preferred})
        SELECT $campaign || '-' || t.customer_id AS contact_id, $campaign AS campaign_id,
               t.customer_id, {msisdn} AS msisdn,
               CASE WHEN t.contact_group = 'treatment' THEN coalesce(p.channel,
                   $channels[1 + CAST(md5_number($campaign || t.customer_id)
                                      % len($channels) AS INTEGER)]) END AS channel,
               CASE WHEN t.contact_group = 'treatment' THEN $when END AS contacted_at,
               t.contact_group
        FROM {TARGETS_TABLE} t LEFT JOIN pref p USING (customer_id)
        WHERE t.campaign_id = $campaign ORDER BY t.priority
    """, {"campaign": campaign_id, "channels": channels, "when": when}).df()
    con.register("_contact_rows", rows)
    if not table_exists(con, EXECUTED_TABLE):
        con.execute(f"CREATE TABLE {EXECUTED_TABLE} AS SELECT * FROM _contact_rows WHERE FALSE")
    con.execute(f"DELETE FROM {EXECUTED_TABLE} WHERE campaign_id = ?", [campaign_id])
    con.execute(f"INSERT INTO {EXECUTED_TABLE} BY NAME SELECT * FROM _contact_rows")
    con.unregister("_contact_rows")
    return rows


def record_responses(con: duckdb.DuckDBPyConnection, responses: pd.DataFrame | list[dict]
                     ) -> int:
    """Record responses (``contact_id``, ``response``, optional ``responded_at``,
    ``revenue``, ``response_id``) against known contacts; unknown contacts are refused."""
    frame = pd.DataFrame(responses)
    if frame.empty:
        return 0
    bad = sorted(set(frame["response"]) - set(RESPONSES))
    if bad:
        raise ValueError(f"unknown response(s) {bad}; use {', '.join(RESPONSES)}")
    now = datetime.now(UTC).replace(tzinfo=None)
    if "responded_at" not in frame:
        frame["responded_at"] = now
    frame["responded_at"] = pd.to_datetime(frame["responded_at"].fillna(now))
    if "revenue" not in frame:
        frame["revenue"] = None
    frame["revenue"] = pd.to_numeric(frame["revenue"], errors="coerce").astype("float64")
    if "response_id" not in frame:
        frame["response_id"] = [f"{c}-{r}-{t:%Y%m%dT%H%M%S}" for c, r, t in zip(
            frame["contact_id"], frame["response"], frame["responded_at"], strict=True)]
    frame = frame[["response_id", "contact_id", "responded_at", "response", "revenue"]]
    known = _contacts_sql(con)
    con.register("_response_rows", frame)
    try:
        missing = con.execute(f"SELECT contact_id FROM _response_rows WHERE contact_id NOT IN "
                              f"(SELECT contact_id FROM ({known}))").fetchall()
        if missing:
            raise ValueError(f"unknown campaign contact(s): {[m[0] for m in missing][:5]}")
        if not table_exists(con, RECORDED_TABLE):
            con.execute(f"CREATE TABLE {RECORDED_TABLE} AS SELECT * FROM _response_rows "
                        "WHERE FALSE")
        con.execute(f"DELETE FROM {RECORDED_TABLE} WHERE response_id IN "
                    "(SELECT response_id FROM _response_rows)")
        con.execute(f"INSERT INTO {RECORDED_TABLE} BY NAME SELECT * FROM _response_rows")
    finally:
        con.unregister("_response_rows")
    return len(frame)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
                      ) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 − p2 (method 10, from Wilson intervals)."""
    if n1 == 0 or n2 == 0:
        return (-1.0, 1.0)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (low, high)


def wald_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
                  ) -> tuple[float, float]:
    """Wald interval for p1 − p2 (for comparison; poor when a rate is near 0 or 1)."""
    if n1 == 0 or n2 == 0:
        return (-1.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p1, p2 = x1 / n1, x2 / n2
    half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return (p1 - p2 - half, p1 - p2 + half)


def _contacts_sql(con: duckdb.DuckDBPyConnection) -> str:
    cols = "contact_id, campaign_id, customer_id, msisdn, channel, contacted_at, contact_group"
    parts = [f"SELECT {cols} FROM {t}" for t in ("campaign_contacts", EXECUTED_TABLE)
             if table_exists(con, t)]
    if not parts:
        return ("SELECT NULL::VARCHAR AS contact_id, NULL::VARCHAR AS campaign_id, "
                "NULL::VARCHAR AS customer_id, NULL::VARCHAR AS msisdn, NULL::VARCHAR AS "
                "channel, NULL::TIMESTAMP AS contacted_at, NULL::VARCHAR AS contact_group "
                "WHERE false")
    return " UNION ALL ".join(parts)


def _responses_sql(con: duckdb.DuckDBPyConnection) -> str:
    cols = "response_id, contact_id, responded_at, response, revenue"
    parts = [f"SELECT {cols} FROM {t}" for t in ("campaign_responses", RECORDED_TABLE)
             if table_exists(con, t)]
    if not parts:
        return ("SELECT NULL::VARCHAR AS response_id, NULL::VARCHAR AS contact_id, "
                "NULL::TIMESTAMP AS responded_at, NULL::VARCHAR AS response, "
                "NULL::DOUBLE AS revenue WHERE false")
    return " UNION ALL ".join(parts)


def _campaign_info(con: duckdb.DuckDBPyConnection, campaign_id: str) -> dict[str, Any]:
    for table in (PLANS_TABLE, "campaigns"):
        if table_exists(con, table):
            rows = con.execute(f"SELECT start_date, end_date, cost_per_contact FROM {table} "
                               "WHERE campaign_id = ?", [campaign_id]).fetchall()
            if rows:
                start, end, cost = rows[0]
                return {"start_date": start, "end_date": end, "cost_per_contact": cost or 0.0}
    raise ValueError(f"unknown campaign {campaign_id!r}")


def _row(name: str, g: pd.DataFrame, control: pd.DataFrame, cost_per_contact: float,
         confidence: float) -> dict[str, Any]:
    nt, nc = len(g), len(control)
    xt, xc = int(g["responded"].sum()), int(control["responded"].sum())
    rt, rc = int(g["retained"].sum()), int(control["retained"].sum())
    pt = xt / nt if nt else float("nan")
    pc = xc / nc if nc else float("nan")
    low, high = newcombe_interval(xt, nt, xc, nc, confidence)
    r_low, r_high = newcombe_interval(rt, nt, rc, nc, confidence)
    rev_t = float(g["revenue"].sum())
    rev_c = float(control["revenue"].sum())
    incremental_revenue = rev_t - (rev_c / nc * nt if nc else 0.0)
    cost = nt * float(cost_per_contact)
    return {
        "group": name, "treated": nt, "control": nc,
        "treated_responders": xt, "control_responders": xc,
        "treated_response_rate": pt, "control_response_rate": pc,
        "response_uplift": pt - pc if nt and nc else float("nan"),
        "uplift_low": low, "uplift_high": high,
        "treated_retention": rt / nt if nt else float("nan"),
        "control_retention": rc / nc if nc else float("nan"),
        "retention_uplift": (rt / nt - rc / nc) if nt and nc else float("nan"),
        "retention_uplift_low": r_low, "retention_uplift_high": r_high,
        "incremental_responders": (pt - pc) * nt if nt and nc else float("nan"),
        "treated_revenue": rev_t, "control_revenue": rev_c,
        "incremental_revenue": incremental_revenue, "cost": cost,
        "roi": (incremental_revenue - cost) / cost if cost else float("nan"),
    }


def campaign_members(con: duckdb.DuckDBPyConnection, campaign_id: str, *,
                     as_of: date | None = None) -> pd.DataFrame:
    """One row per customer on the list: group, channel, responded, revenue, retained."""
    info = _campaign_info(con, campaign_id)
    churn = "false"
    params: dict[str, Any] = {"campaign": campaign_id, "start": info["start_date"]}
    if table_exists(con, "churn_events"):
        horizon = ""
        if as_of is not None:
            params["as_of"] = as_of
            horizon = "AND e.churn_date < $as_of"
        # the contacted line if known, else any line of the customer
        churn = (f"EXISTS (SELECT 1 FROM churn_events e JOIN subscriptions s USING "
                 f"(subscription_id) WHERE e.churn_date >= $start {horizon} AND "
                 f"(s.msisdn = k.msisdn OR (k.msisdn IS NULL AND "
                 f"s.customer_id = k.customer_id)))")
    segment = "NULL::VARCHAR"
    seg_join = ""
    if table_exists(con, "segment_members"):
        seg_cut = con.execute("SELECT coalesce(max(cutoff) FILTER (WHERE cutoff <= $s), "
                              "min(cutoff)) FROM segment_members",
                              {"s": info["start_date"]}).fetchall()[0][0]
        params["seg_cut"] = seg_cut
        seg_join = ("LEFT JOIN (SELECT customer_id, CAST(min(segment_id) AS VARCHAR) AS "
                    "segment FROM segment_members WHERE cutoff = $seg_cut GROUP BY 1) sg "
                    "ON sg.customer_id = k.customer_id")
        segment = "sg.segment"
    sql = f"""
        WITH k AS (SELECT * FROM ({_contacts_sql(con)}) WHERE campaign_id = $campaign),
             r AS (SELECT contact_id, bool_or(response = 'accepted') AS responded,
                          sum(revenue) FILTER (WHERE response = 'accepted') AS revenue
                   FROM ({_responses_sql(con)}) GROUP BY 1)
        SELECT k.contact_id, k.customer_id, k.contact_group, k.channel, {segment} AS segment,
               coalesce(r.responded, false) AS responded, coalesce(r.revenue, 0) AS revenue,
               NOT {churn} AS retained
        FROM k LEFT JOIN r USING (contact_id) {seg_join}
    """
    return con.execute(sql, _bind(sql, params)).df()


def evaluate(con: duckdb.DuckDBPyConnection, campaign_id: str, *,
             confidence: float = 0.95, as_of: date | None = None) -> dict[str, pd.DataFrame]:
    """Treated vs control for a campaign: ``overall``, ``by_channel`` and ``by_segment``."""
    members = campaign_members(con, campaign_id, as_of=as_of)
    cost = float(_campaign_info(con, campaign_id)["cost_per_contact"])
    treated = members[members["contact_group"] == "treatment"]
    control = members[members["contact_group"] == "control"]
    overall = pd.DataFrame([_row("all", treated, control, cost, confidence)])
    by_channel = pd.DataFrame([_row(str(ch), g, control, cost, confidence)
                               for ch, g in treated.groupby("channel", dropna=False)])
    seg_rows = []
    for seg, g in members.groupby(members["segment"].fillna("none")):
        seg_rows.append(_row(str(seg), g[g["contact_group"] == "treatment"],
                             g[g["contact_group"] == "control"], cost, confidence))
    for frame in (overall, by_channel):
        if len(frame):
            frame.insert(0, "campaign_id", campaign_id)
    by_segment = pd.DataFrame(seg_rows)
    if len(by_segment):
        by_segment.insert(0, "campaign_id", campaign_id)
    return {"overall": overall, "by_channel": by_channel, "by_segment": by_segment}


def evaluate_all(con: duckdb.DuckDBPyConnection, *, confidence: float = 0.95) -> pd.DataFrame:
    """One ``overall`` row per campaign with contacts (ingested or executed): for reports."""
    ids = [r[0] for r in con.execute(
        f"SELECT DISTINCT campaign_id FROM ({_contacts_sql(con)}) ORDER BY 1").fetchall()]
    frames = [evaluate(con, c, confidence=confidence)["overall"] for c in ids]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ---------------------------------------------------------------------------
# Snapshot level (what the API calls)
# ---------------------------------------------------------------------------


def plan_campaign(store: SnapshotStore, campaign: Campaign, *, as_of: date | None = None,
                  execute: bool = False) -> tuple[Snapshot, pd.DataFrame]:
    """Target (and optionally execute) a campaign; publish the list as a new snapshot."""
    out: dict[str, pd.DataFrame] = {}

    def write(con: duckdb.DuckDBPyConnection, _building: Snapshot) -> dict[str, Any]:
        targets = target(con, campaign, as_of=as_of)
        store_targets(con, campaign, targets)
        if execute:
            record_contacts(con, campaign.campaign_id)
        out["targets"] = targets
        counts = targets["contact_group"].value_counts().to_dict()
        return {"campaign_id": campaign.campaign_id, "targets": len(targets),
                "treatment": int(counts.get("treatment", 0)),
                "control": int(counts.get("control", 0)), "executed": execute}

    snapshot = store.derive(new_run_id("campaign"), write, manifest_key="campaign")
    return snapshot, out["targets"]


def record_snapshot_responses(store: SnapshotStore, responses: list[dict[str, Any]]
                              ) -> Snapshot:
    """Record responses (the API mutation) and publish them as a new snapshot."""

    def write(con: duckdb.DuckDBPyConnection, _building: Snapshot) -> dict[str, Any]:
        return {"responses": record_responses(con, responses)}

    return store.derive(new_run_id("responses"), write, manifest_key="responses")


def evaluate_campaign(snapshot: Snapshot, campaign_id: str, **kwargs: Any
                      ) -> dict[str, pd.DataFrame]:
    """:func:`evaluate` on a published snapshot (read-only)."""
    con = duckdb.connect(str(snapshot.warehouse_path), read_only=True)
    try:
        return evaluate(con, campaign_id, **kwargs)
    finally:
        con.close()
