"""Pure-ASGI middleware (cheaper than BaseHTTPMiddleware): metrics, auth, size and time."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import explorer
from api.auth import AuthError, authenticate
from api.metrics import Metrics
from api.settings import Settings

log = logging.getLogger("callcircle.api")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
PRINCIPAL = "callcircle.principal"


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


def _error(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message}]}


class MetricsMiddleware:
    """Counts requests by path and status, and times them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            path = self.metrics.path_label(scope["path"])
            self.metrics.requests.labels(path, scope["method"], str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)
            if status >= 500:
                self.metrics.errors.labels("http_5xx").inc()


class AuthMiddleware:
    """401 without valid credentials, except the health endpoints (and metrics if public)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.public = PUBLIC_PATHS | ({"/metrics"} if settings.metrics_public else set())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] in self.public
                or explorer.is_public(scope["path"])):
            await self.app(scope, receive, send)
            return
        if (self.settings.graphiql and scope["path"] == "/graphql"
                and scope["method"] == "GET"):  # the IDE page; its queries carry credentials
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"] if k in (b"x-api-key", b"authorization")}
        try:
            principal = authenticate(headers.get("x-api-key"), headers.get("authorization"),
                                     self.settings)
        except AuthError as error:
            await self._refuse(send, str(error))
            return
        if principal is None:  # the explorer page's session (api/explorer.py)
            principal = explorer.session_principal(scope, self.settings)
        if principal is None:
            if not await explorer.redirect_to_login(scope, send):
                await self._refuse(send, "authentication required: X-API-Key or bearer token")
            return
        scope[PRINCIPAL] = principal
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send, message: str) -> None:
        await send_json(send, 401, _error(message),
                        [(b"www-authenticate", b'Bearer realm="callcircle"')])


class BodyLimitMiddleware:
    """413 for a request body above the limit, read before the app sees any of it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        too_large = _error(f"request body larger than {self.max_bytes} bytes")
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await send_json(send, 413, too_large)
                    return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_json(send, 413, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class TimeoutMiddleware:
    """504 when a request takes longer than the limit; its work is cancelled."""

    def __init__(self, app: ASGIApp, timeout_s: float, metrics: Metrics) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), self.timeout_s)
        except TimeoutError:
            self.metrics.errors.labels("timeout").inc()
            log.warning("request to %s timed out after %.1f s", scope["path"], self.timeout_s)
            if not started:
                await send_json(send, 504, _error(
                    f"request took longer than {self.timeout_s:g} s and was cancelled"))
