"""Relay conventions: the ``Node`` interface, global ids, cursors, and the generic
``Connection``/``Edge`` pair with its ``PageInfo``.

A list type is ``class CustomerConnection(Connection[Customer])`` with its description and
any extra fields; strawberry names the edge type after the node (``CustomerEdge``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Generic, Self, TypeVar

import strawberry

from api.errors import PublicError

NodeType = TypeVar("NodeType")


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


def cursor_position(after: str | None) -> int:
    """The rank or offset an integer cursor holds (0 without one); anything else is the
    client's error."""
    if after is None:
        return 0
    position = decode_cursor(after)
    if not isinstance(position, int) or position < 0:
        raise PublicError("malformed cursor")
    return position


@strawberry.interface(description="An object with a global id (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id; pass it to `node(id:)`.")


@strawberry.type(description="Where a page of a connection stands (Relay).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, edges: Sequence[Edge[Any]], *, has_next_page: bool,
           has_previous_page: bool) -> PageInfo:
        return cls(has_next_page=has_next_page, has_previous_page=has_previous_page,
                   start_cursor=edges[0].cursor if edges else None,
                   end_cursor=edges[-1].cursor if edges else None)


@strawberry.type
class Edge(Generic[NodeType]):
    cursor: str
    node: NodeType


@strawberry.type
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]]
    page_info: PageInfo

    @classmethod
    def page(cls, edges: list[Edge[NodeType]], *, has_next_page: bool,
             has_previous_page: bool, **fields: Any) -> Self:
        """A page of ``edges``; ``fields``: the subclass's own (``total_count``, ...)."""
        return cls(edges=edges, page_info=PageInfo.of(  # type: ignore[call-arg]
            edges, has_next_page=has_next_page, has_previous_page=has_previous_page),
            **fields)
