"""Campaigns in GraphQL: plan (target, control group, optionally execute), record
responses, evaluate. Analyst or admin; resolvers only call ``insight.campaigns``."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import strawberry
from strawberry.types import Info

from api.auth import Role
from api.context import ctx
from api.errors import PublicError
from graph.snapshot import SnapshotStore
from insight import campaigns as marketing


@strawberry.input(description="Who a campaign is for; empty lists mean no condition.")
class TargetInput:
    segments: list[int] = strawberry.field(default_factory=list)
    tags: list[str] = strawberry.field(default_factory=list)
    value_tiers: list[str] = strawberry.field(default_factory=list)
    churn_risk_min: float | None = None
    churn_risk_max: float | None = None
    circles: list[int] = strawberry.field(default_factory=list)
    exclude_tags: list[str] = strawberry.field(default_factory=list)
    exclude_do_not_contact: bool = True
    exclude_contacted_days: int | None = 30
    exclude_churned: bool = True
    prefer_influencers_of_at_risk_circles: bool = False
    at_risk_circle_churn_rate: float = 0.1
    limit: int | None = None


@strawberry.input(description="A campaign as the marketing team plans it.")
class CampaignInput:
    campaign_id: str
    name: str
    objective: str = "retention"
    offer: str = ""
    channels: list[str] = strawberry.field(default_factory=lambda: ["sms"])
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    budget: float | None = None
    cost_per_contact: float = 0.0
    control_share: float = 0.1
    seed: int = 0
    target: TargetInput | None = None


@strawberry.input(description="One response to a campaign contact.")
class ResponseInput:
    contact_id: str
    response: str = strawberry.field(description="accepted, declined or clicked.")
    responded_at: dt.datetime | None = None
    revenue: float | None = None
    response_id: str | None = None


@strawberry.type(description="A stored target list and the snapshot holding it.")
class CampaignPlan:
    campaign_id: str
    snapshot_id: str
    targets: int
    treatment: int
    control: int
    executed: bool


@strawberry.type(description="Responses recorded and the snapshot holding them.")
class RecordedResponses:
    snapshot_id: str
    recorded: int


@strawberry.type(description="Treated against control for all, a channel or a segment.")
class Uplift:
    group: str
    treated: int
    control: int
    treated_response_rate: float | None
    control_response_rate: float | None
    response_uplift: float | None
    uplift_low: float | None = strawberry.field(description="95 % Newcombe lower bound.")
    uplift_high: float | None
    treated_retention: float | None
    control_retention: float | None
    retention_uplift: float | None
    incremental_responders: float | None
    incremental_revenue: float | None
    cost: float | None
    roi: float | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Uplift:
        def num(key: str) -> float | None:
            value = row.get(key)
            return None if value is None or (isinstance(value, float) and math.isnan(value)) \
                else float(value)

        return cls(group=str(row["group"]), treated=int(row["treated"]),
                   control=int(row["control"]),
                   **{k: num(k) for k in (
                       "treated_response_rate", "control_response_rate", "response_uplift",
                       "uplift_low", "uplift_high", "treated_retention", "control_retention",
                       "retention_uplift", "incremental_responders", "incremental_revenue",
                       "cost", "roi")})


@strawberry.type(description="A campaign's evaluation against its control group.")
class CampaignEvaluation:
    campaign_id: str
    method: str
    overall: Uplift
    by_channel: list[Uplift]
    by_segment: list[Uplift]


def _rows(frame: pd.DataFrame) -> list[Uplift]:
    return [Uplift.from_row(r) for r in frame.to_dict("records")]


def _campaign(given: CampaignInput) -> marketing.Campaign:
    target = given.target or TargetInput()
    return marketing.Campaign(
        campaign_id=given.campaign_id, name=given.name, objective=given.objective,
        offer=given.offer, channels=list(given.channels), start_date=given.start_date,
        end_date=given.end_date, budget=given.budget, cost_per_contact=given.cost_per_contact,
        control_share=given.control_share, seed=given.seed,
        target=marketing.TargetDefinition(**{
            k: (list(v) if isinstance(v, list) else v) for k, v in vars(target).items()}))


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="Response and retention, treated against control, with the "
                                  "uplift's 95 % Newcombe interval; per channel and segment "
                                  "(analyst or admin).")
    async def campaign_evaluation(self, info: Info, campaign_id: str) -> CampaignEvaluation:
        context = ctx(info)
        context.require(Role.ANALYST, "campaign evaluation")

        def work(con: Any) -> dict[str, pd.DataFrame]:
            return marketing.evaluate(con, campaign_id)

        try:
            result = await context.snapshot.on_warehouse(work)
        except ValueError as exc:
            raise PublicError(str(exc)) from None
        return CampaignEvaluation(
            campaign_id=campaign_id, method="Newcombe hybrid score (Wilson), 95 %",
            overall=_rows(result["overall"])[0], by_channel=_rows(result["by_channel"]),
            by_segment=_rows(result["by_segment"]))


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Build and store a campaign's target list with its "
                                     "control group, optionally recording the contacts; "
                                     "publishes a new snapshot (analyst or admin).")
    async def plan_campaign(self, info: Info, campaign: CampaignInput, execute: bool = False,
                            as_of: dt.date | None = None) -> CampaignPlan:
        context = ctx(info)
        context.require(Role.ANALYST, "planning a campaign")
        plan = await context.on_store(lambda store: _plan(store, campaign, execute, as_of))
        snapshot, targets = plan
        counts = targets["contact_group"].value_counts().to_dict()
        return CampaignPlan(campaign_id=campaign.campaign_id, snapshot_id=snapshot.id,
                            targets=len(targets), treatment=int(counts.get("treatment", 0)),
                            control=int(counts.get("control", 0)), executed=execute)

    @strawberry.mutation(description="Record responses to campaign contacts; publishes a new "
                                     "snapshot (analyst or admin).")
    async def record_campaign_responses(self, info: Info, responses: list[ResponseInput]
                                        ) -> RecordedResponses:
        context = ctx(info)
        context.require(Role.ANALYST, "recording campaign responses")
        rows = [{k: v for k, v in vars(r).items() if v is not None} for r in responses]
        snapshot = await context.on_store(
            lambda store: marketing.record_snapshot_responses(store, rows))
        return RecordedResponses(snapshot_id=snapshot.id, recorded=len(rows))


def _plan(store: SnapshotStore, given: CampaignInput, execute: bool, as_of: dt.date | None
          ) -> tuple[Any, pd.DataFrame]:
    return marketing.plan_campaign(store, _campaign(given), execute=execute, as_of=as_of)
