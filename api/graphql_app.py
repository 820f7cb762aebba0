"""The strawberry ASGI app, bound to the snapshot holder: one lease and context per request."""

from __future__ import annotations

from typing import Any

import strawberry
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.types import ExecutionResult

from api.context import Context
from api.metrics import Metrics
from api.middleware import PRINCIPAL, send_json
from api.settings import Settings
from api.snapshots import SnapshotHolder
from graph.locales import negotiate

CONTEXT = "callcircle.context"


class GraphQLApp(GraphQL):
    def __init__(self, schema: strawberry.Schema, holder: SnapshotHolder, settings: Settings,
                 metrics: Metrics) -> None:
        super().__init__(schema, graphql_ide="graphiql" if settings.graphiql else None,
                         allow_queries_via_get=False)
        self.holder = holder
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send_json(send, 400, {"errors": [{"message": "HTTP only"}]})
            return
        if PRINCIPAL not in scope:  # the GraphiQL page, served without credentials
            await super().__call__(scope, receive, send)
            return
        snapshot = self.holder.lease()
        if snapshot is None:
            await send_json(send, 503, {"errors": [{"message": "no snapshot published yet"}]})
            return
        try:
            scope[CONTEXT] = Context.create(
                scope[PRINCIPAL], snapshot, self.settings.limits,
                on_query=self.metrics.warehouse_queries.inc,
                locale=negotiate(Headers(scope=scope).get("accept-language"),
                                 default=self.settings.locale))
            await super().__call__(scope, receive, send)
        finally:
            snapshot.release()

    async def get_context(self, request: Any, response: Any) -> Context | None:
        return request.scope.get(CONTEXT)  # None only for the GraphiQL page

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        if result.errors:
            self.metrics.errors.labels("graphql").inc(len(result.errors))
        return await super().process_result(request, result)
