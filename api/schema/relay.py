"""Relay conventions: the ``Node`` interface, global ids, cursors and ``PageInfo``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import strawberry

from api.errors import PublicError


def to_global_id(type_name: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, str]:
    """(type name, key) of a global id; a malformed id is the client's error."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, sep, key = base64.urlsafe_b64decode(padded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise PublicError("malformed global id") from None
    if not sep or not type_name or not key:
        raise PublicError("malformed global id")
    return type_name, key


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise PublicError("malformed cursor") from None


@strawberry.interface(description="An object with a global id (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id; pass it to `node(id:)`.")


@strawberry.type(description="Where a page of a connection stands (Relay).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None
