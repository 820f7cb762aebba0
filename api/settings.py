"""Service settings: a YAML file, overridden by environment variables.

The YAML file (``callcircle serve --config FILE``) looks like this::

    api_keys:                      # one entry per calling application
      - name: call-centre
        key_sha256: 5e884898...    # or `key:` in clear (tests, development)
        role: app                  # app | analyst | admin
    jwt:
      secret: change-me            # HS256 shared secret; no secret, no JWT login
      issuer: callcircle           # required `iss` claim when set
      audience: null
    limits:
      max_depth: 10
      max_tokens: 2000
      max_aliases: 15
      max_page_size: 100
      max_body_bytes: 65536
      request_timeout_s: 10
      sparql_timeout_s: 5
      sparql_max_rows: 10000
    introspection: true
    graphiql: false
    metrics_public: true           # /metrics without credentials (for the scraper)
    snapshot_poll_s: 1.0
    locale: zh-CN                  # words of the API when no Accept-Language or `locale`

Environment variables win over the file, so secrets need not be written to it:
``CALLCIRCLE_API_KEYS`` (``name:role:key`` entries separated by commas),
``CALLCIRCLE_JWT_SECRET``, ``CALLCIRCLE_JWT_ISSUER``, ``CALLCIRCLE_INTROSPECTION``,
``CALLCIRCLE_GRAPHIQL`` (``true``/``false``), ``CALLCIRCLE_LOCALE`` (``en``, ``zh-CN``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from api.auth import Role
from graph.locales import DEFAULT_LOCALE, LOCALE_ENV, normalize
from graph.snapshot import resolve_data_dir

CONFIG_ENV = "CALLCIRCLE_API_CONFIG"


@dataclass(frozen=True)
class ApiKey:
    """A calling application: its name (for logs and metrics), key digest and role."""

    name: str
    sha256: str
    role: Role


@dataclass(frozen=True)
class JwtSettings:
    secret: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_s: float = 30.0


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client from exhausting the service."""

    max_depth: int = 10
    max_tokens: int = 2000
    max_aliases: int = 15
    max_cost: int = 50000
    max_page_size: int = 100
    max_body_bytes: int = 65536
    request_timeout_s: float = 10.0
    sparql_timeout_s: float = 5.0
    sparql_max_rows: int = 10000


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=resolve_data_dir)
    api_keys: tuple[ApiKey, ...] = ()
    jwt: JwtSettings = field(default_factory=JwtSettings)
    limits: Limits = field(default_factory=Limits)
    introspection: bool = True
    graphiql: bool = False
    metrics_public: bool = True
    snapshot_poll_s: float = 1.0
    locale: str = DEFAULT_LOCALE
    """The API's language for a request without Accept-Language or a ``locale`` argument."""

    @classmethod
    def load(cls, config: str | os.PathLike[str] | None = None, *,
             data_dir: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``config`` (or ``$CALLCIRCLE_API_CONFIG``), then the environment."""
        env = os.environ if environ is None else environ
        config = config or env.get(CONFIG_ENV) or None
        raw: dict[str, Any] = {}
        if config is not None:
            raw = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{config}: expected a mapping at the top level")
        settings = cls.from_mapping(raw, data_dir=data_dir)
        return settings.with_environment(env)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *,
                     data_dir: str | os.PathLike[str] | None = None) -> Settings:
        unknown = set(raw) - {"api_keys", "jwt", "limits", "introspection", "graphiql",
                              "metrics_public", "snapshot_poll_s", "data_dir", "locale"}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        keys = tuple(_api_key(entry) for entry in raw.get("api_keys") or ())
        return cls(
            data_dir=resolve_data_dir(data_dir if data_dir is not None else raw.get("data_dir")),
            api_keys=keys,
            jwt=JwtSettings(**(raw.get("jwt") or {})),
            limits=Limits(**(raw.get("limits") or {})),
            introspection=bool(raw.get("introspection", True)),
            graphiql=bool(raw.get("graphiql", False)),
            metrics_public=bool(raw.get("metrics_public", True)),
            snapshot_poll_s=float(raw.get("snapshot_poll_s", 1.0)),
            locale=_locale(raw.get("locale")),
        )

    def with_environment(self, env: Mapping[str, str]) -> Settings:
        settings = self
        if env.get("CALLCIRCLE_API_KEYS"):
            keys = []
            for entry in env["CALLCIRCLE_API_KEYS"].split(","):
                name, role, key = entry.strip().split(":", 2)
                keys.append(_api_key({"name": name, "role": role, "key": key}))
            settings = replace(settings, api_keys=tuple(keys))
        jwt = settings.jwt
        if env.get("CALLCIRCLE_JWT_SECRET"):
            jwt = replace(jwt, secret=env["CALLCIRCLE_JWT_SECRET"])
        if env.get("CALLCIRCLE_JWT_ISSUER"):
            jwt = replace(jwt, issuer=env["CALLCIRCLE_JWT_ISSUER"])
        settings = replace(settings, jwt=jwt)
        for name, attr in (("CALLCIRCLE_INTROSPECTION", "introspection"),
                           ("CALLCIRCLE_GRAPHIQL", "graphiql")):
            if env.get(name):
                settings = replace(settings, **{attr: _flag(env[name])})
        if env.get(LOCALE_ENV):
            settings = replace(settings, locale=_locale(env[LOCALE_ENV], LOCALE_ENV))
        return settings


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _api_key(entry: Mapping[str, Any]) -> ApiKey:
    digest = entry.get("key_sha256") or (key_digest(str(entry["key"])) if "key" in entry else None)
    if not digest:
        raise ValueError(f"api key {entry.get('name')!r} needs `key` or `key_sha256`")
    return ApiKey(name=str(entry.get("name", "unnamed")), sha256=str(digest).lower(),
                  role=Role(entry.get("role", "app")))


def _locale(value: object, where: str = "locale") -> str:
    try:
        return normalize(None if value is None else str(value))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}
