"""Who is calling: API keys (``X-API-Key``) and HS256 JWT bearer tokens, mapped to roles."""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jwt

if TYPE_CHECKING:
    from api.settings import Settings


class Role(enum.StrEnum):
    """What a caller may see. Ordered: each role sees at least what the one before sees."""

    APP = "app"          # front-line applications: one customer at a time
    ANALYST = "analyst"  # analysts' tools: lists, SPARQL; PII masked
    ADMIN = "admin"      # operators of the service: everything in clear

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    method: str  # "api_key" or "jwt"


class AuthError(Exception):
    """Credentials present but not acceptable; the message is safe to show."""


def authenticate(api_key: str | None, authorization: str | None,
                 settings: Settings) -> Principal | None:
    """The caller behind these headers; None when no credentials were sent at all."""
    if api_key:
        digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
        for entry in settings.api_keys:
            if hmac.compare_digest(digest, entry.sha256):
                return Principal(subject=entry.name, role=entry.role, method="api_key")
        raise AuthError("unknown API key")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("expected `Authorization: Bearer <token>`")
        return _from_jwt(token.strip(), settings)
    return None


def _from_jwt(token: str, settings: Settings) -> Principal:
    conf = settings.jwt
    if not conf.secret:
        raise AuthError("bearer tokens are not accepted by this service")
    options = {"require": ["exp", "sub"] + (["iss"] if conf.issuer else [])}
    try:
        claims = jwt.decode(
            token, conf.secret, algorithms=["HS256"], issuer=conf.issuer,
            audience=conf.audience, leeway=conf.leeway_s, options=options,
        )
    except jwt.PyJWTError as error:
        raise AuthError(f"invalid token: {error}") from None
    try:
        role = Role(claims.get("role", ""))
    except ValueError:
        raise AuthError("token has no valid `role` claim (app, analyst or admin)") from None
    return Principal(subject=str(claims["sub"]), role=role, method="jwt")
