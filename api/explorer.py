"""The call-circle explorer page: its routes, static files and browser session.

A browser cannot send ``X-API-Key`` when it navigates, so the page signs in once:
``POST /explore/login`` (JSON ``{"apiKey": …}``) checks the key like the API does and
sets a signed, HttpOnly, SameSite=Strict session cookie naming the key and its role. The
auth middleware accepts that cookie for the page and for ``/graphql`` (JSON POSTs only),
and nowhere else. SameSite=Strict keeps other sites from riding the session, and a
cross-site form cannot send a JSON body without a CORS preflight we never answer. The
cookie is re-checked against the configured keys on every request, so removing a key or
changing its role ends its sessions. The page itself talks to ``/graphql`` only.

Both pages are rendered in the reader's locale (:func:`page_locale`: the page's switch,
``?locale=``, kept in a cookie; else ``Accept-Language``; else the server's ``locale:``) from
the messages of ``api.explorer_messages``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from functools import cache
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope, Send

from api.auth import AuthError, Principal, Role, authenticate
from api.explorer_messages import render_page
from api.settings import Settings
from graph.locales import negotiate, normalize

STATIC = Path(__file__).resolve().parent / "static" / "explorer"
COOKIE = "callcircle_session"
LOCALE_COOKIE = "callcircle_locale"
"""Keeps the locale chosen with the page's switch (``?locale=``); not a credential."""
LOCALE_COOKIE_TTL_S = 365 * 24 * 3600
SESSION_TTL_S = 8 * 3600
SECRET_FILE = ".explorer-secret"
#: reachable without credentials: the sign-in page and the page's code (no data in either)
PUBLIC_PREFIXES = ("/explore/login", "/explore/static/")
#: where the session cookie counts as credentials
COOKIE_PATHS = ("/explore", "/graphql")
#: pages that send an anonymous browser to the sign-in page instead of a 401
PAGES = frozenset({"/", "/explore", "/explore/"})


@cache
def _secret(data_dir: Path) -> bytes:
    """The signing secret: ``$CALLCIRCLE_SESSION_SECRET``, else a random one kept in the data
    directory (created once, mode 0600) so every worker and restart shares it."""
    configured = os.environ.get("CALLCIRCLE_SESSION_SECRET")
    if configured:
        return configured.encode("utf-8")
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # the first worker wins; the others read its secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def node_key_secret(data_dir: Path) -> str:
    """Key of the opaque node ids the circle graph queries hand out (not the cookie key)."""
    return hmac.new(_secret(Path(data_dir)), b"node-keys", hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, settings: Settings) -> str:
    key = hmac.new(_secret(settings.data_dir), b"session-cookie", hashlib.sha256).digest()
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def session_cookie(principal: Principal, settings: Settings, now: float | None = None) -> str:
    """The cookie value for a signed-in key: payload.signature."""
    exp = int((now or time.time()) + SESSION_TTL_S)
    payload = _b64(json.dumps({"sub": principal.subject, "role": principal.role.value,
                               "exp": exp}, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_sign(payload, settings)}"


def principal_from_cookie(value: str, settings: Settings) -> Principal | None:
    """The principal of a valid, unexpired cookie whose key is still configured, else None."""
    payload, _, signature = value.partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(payload, settings)):
        return None
    try:
        claims = json.loads(_unb64(payload))
        role = Role(claims["role"])
        if int(claims["exp"]) < time.time():
            return None
    except (ValueError, KeyError, TypeError):
        return None
    if not any(e.name == claims["sub"] and e.role is role for e in settings.api_keys):
        return None
    return Principal(subject=str(claims["sub"]), role=role, method="session")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


def session_principal(scope: Scope, settings: Settings) -> Principal | None:
    """Credentials from the session cookie, where it counts (see the module docstring)."""
    path = scope["path"]
    if not (path == "/" or path.startswith(COOKIE_PATHS)):
        return None
    if path == "/graphql" and scope["method"] == "POST":
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return None
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    morsel = SimpleCookie(raw).get(COOKIE)
    return None if morsel is None else principal_from_cookie(morsel.value, settings)


def _spoken(tag: str | None) -> str | None:
    """``tag`` as one of the locales callcircle speaks, else None."""
    try:
        return normalize(tag) if tag else None
    except ValueError:
        return None


def _asked_locale(query: str) -> str | None:
    """The locale a query string's ``locale=`` asks for, if callcircle speaks it."""
    return _spoken(parse_qs(query).get("locale", [""])[-1])


def page_locale(request: Request, default: str) -> tuple[str, bool]:
    """The page's locale and whether the request chose it: ``?locale=`` (the page's switch),
    else the locale cookie that switch left, else ``Accept-Language``, else ``default`` (the
    server's ``locale:``, as for the API's words)."""
    asked = _asked_locale(request.url.query)
    if asked is not None:
        return asked, True
    kept = _spoken(request.cookies.get(LOCALE_COOKIE))
    return kept or negotiate(request.headers.get("accept-language"), default), False


async def redirect_to_login(scope: Scope, send: Send) -> bool:
    """Send an anonymous browser asking for a page to the sign-in page; False otherwise."""
    if scope["method"] not in ("GET", "HEAD") or scope["path"] not in PAGES:
        return False
    location = "/explore/login"
    asked = _asked_locale(scope.get("query_string", b"").decode("latin-1"))
    if asked is not None:  # the switch's choice survives the detour through signing in
        location += f"?locale={asked}"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("ascii")), (b"content-length", b"0"),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})
    return True


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # everything is served from here: a stray CDN URL fails loudly in tests
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; "
                                "style-src 'self' 'unsafe-inline'; script-src 'self'; "
                                "worker-src 'self' blob:; "
                                "connect-src 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def routes(settings: Settings) -> list[BaseRoute]:
    """The explorer's routes, mounted by ``api.app``."""

    def localized(template: str, request: Request) -> Response:
        locale, chosen = page_locale(request, settings.locale)
        response = HTMLResponse(render_page(STATIC / template, locale),
                                headers={**_PAGE_HEADERS, "Content-Language": locale,
                                         "Vary": "Accept-Language, Cookie"})
        if chosen:
            response.set_cookie(LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_TTL_S, path="/",
                                samesite="lax", secure=request.url.scheme == "https")
        return response

    async def page(request: Request) -> Response:
        return localized("index.html", request)

    async def root(request: Request) -> Response:
        return RedirectResponse("/explore", status_code=303)

    async def login_page(request: Request) -> Response:
        return localized("login.html", request)

    async def login(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return JSONResponse({"error": "send JSON: {\"apiKey\": …}"}, status_code=415)
        try:
            body = await request.json()
            key = body["apiKey"]
            if not isinstance(key, str) or not key:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {\"apiKey\": \"…\"}"}, status_code=400)
        try:
            principal = authenticate(key, None, settings)
        except AuthError as error:
            return JSONResponse({"error": str(error)}, status_code=401)
        assert principal is not None
        response = JSONResponse({"role": principal.role.value, "subject": principal.subject})
        response.set_cookie(COOKIE, session_cookie(principal, settings), max_age=SESSION_TTL_S,
                            path="/", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    async def logout(request: Request) -> Response:
        response = JSONResponse({"signedOut": True})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def whoami(request: Request) -> Response:
        principal: Principal = request.scope["callcircle.principal"]
        return JSONResponse({"role": principal.role.value, "subject": principal.subject,
                             "method": principal.method})

    return [
        Route("/", root),
        Route("/explore", page),
        Route("/explore/", page),
        Route("/explore/login", login_page, methods=["GET"]),
        Route("/explore/login", login, methods=["POST"]),
        Route("/explore/logout", logout, methods=["POST"]),
        Route("/explore/whoami", whoami),
        Mount("/explore/static", app=StaticFiles(directory=STATIC), name="explorer-static"),
    ]
