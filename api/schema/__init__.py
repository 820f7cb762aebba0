"""The GraphQL schema: types per domain in this package, assembled here.

Queries of the customer, circle and insight types (``query.py``) are merged with the
tag, campaign and KPI queries and mutations (``tags.py``, ``campaigns.py``, ``kpis.py``).

``python -m api.schema`` rewrites ``api/schema.graphql`` (the exported SDL that
clients and the schema test read).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types

from api.complexity import cost_limit_rule
from api.errors import should_mask
from api.schema.campaigns import CampaignMutation, CampaignQuery
from api.schema.circle_graph import CircleGraphQuery
from api.schema.circles import CallCircle
from api.schema.customer import Customer
from api.schema.insight import Segment
from api.schema.kpis import KpiQuery
from api.schema.query import Query
from api.schema.subscription import Product, Subscription
from api.schema.tags import TagMutation, TagQuery
from api.settings import Limits

SDL_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"
TYPES = [Customer, Subscription, Product, Segment, CallCircle]


def build_schema(limits: Limits | None = None, *, introspection: bool = True) -> strawberry.Schema:
    """The schema with the service's limits and error masking as extensions."""
    limits = limits or Limits()
    # The limit rules are classes built once here: a fresh class per request would make
    # every request miss the validation cache (its key includes the rule classes).
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        cost_limit_rule(limits.max_cost, limits.max_page_size),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=512),
        lambda: MaskErrors(should_mask_error=should_mask,
                           error_message="Internal error; it has been logged."),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=merge_types("Query", (Query, TagQuery, CampaignQuery, KpiQuery, CircleGraphQuery)),
        mutation=merge_types("Mutation", (TagMutation, CampaignMutation)),
        types=TYPES, extensions=extensions)


def sdl() -> str:
    return build_schema().as_str() + "\n"
