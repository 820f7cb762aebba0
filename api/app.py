"""The ASGI application: routes, middleware, and the snapshot watcher's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import explorer
from api.graphql_app import GraphQLApp
from api.metrics import Metrics
from api.middleware import AuthMiddleware, BodyLimitMiddleware, MetricsMiddleware, TimeoutMiddleware
from api.schema import build_schema
from api.settings import Settings
from api.snapshots import SnapshotHolder
from api.sparql import SparqlEndpoint


def create_app(settings: Settings, *, quiet_gc: bool = False) -> Starlette:
    """``quiet_gc``: tune the garbage collector of this process for serving (the server's
    own process only, see :func:`quiet_garbage_collector`)."""
    metrics = Metrics()
    holder = SnapshotHolder(settings.data_dir, on_switch=metrics.snapshot_switched)
    schema = build_schema(settings.limits, introspection=settings.introspection)
    graphql = GraphQLApp(schema, holder, settings, metrics)
    sparql = SparqlEndpoint(holder, settings.limits)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        current = holder.current
        if current is None:
            return JSONResponse({"status": "waiting for a published snapshot"}, status_code=503)
        return JSONResponse({"status": "ready", "snapshot": current.id})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The first snapshot is opened by the watcher, in the background: /healthz answers
        # at once, /readyz once the snapshot (and its serving copy) is open.
        watcher = asyncio.create_task(holder.watch(settings.snapshot_poll_s))
        if quiet_gc:
            quiet_garbage_collector()
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            holder.close()
            if quiet_gc:
                gc.unfreeze()  # frozen objects are never freed: native ones would report leaks

    limits = settings.limits
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/sparql", sparql.handle, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            *explorer.routes(settings),
        ],
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(AuthMiddleware, settings=settings),
            Middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes),
            Middleware(TimeoutMiddleware, timeout_s=limits.request_timeout_s, metrics=metrics),
        ],
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.state.metrics = metrics
    return app


def quiet_garbage_collector() -> None:
    """Fewer, shorter collector pauses (they set the latency tail): what is loaded at start
    (modules, schema) is frozen out of every collection, and young objects are collected
    after 20,000 allocations instead of 700 — a request allocates a few thousand."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)

