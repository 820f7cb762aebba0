"""Relay conventions: the ``Node`` interface, global ids, cursors, and the generic
``Connection``/``Edge`` pair with its ``PageInfo``.

A list type is ``class CustomerConnection(Connection[Customer])`` with its description and
any extra fields; strawberry names the edge type after the node (``CustomerEdge``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
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

    @classmethod
    def keyset(cls, rows: list[dict[str, Any]], size: int, after: str | None, *,
               cursor: Callable[[dict[str, Any]], Any],
               node: Callable[[dict[str, Any]], NodeType], **fields: Any) -> Self:
        """The page of ``size + 1`` rows read after ``after``'s position: the extra row only
        tells that a next page exists; ``cursor(row)`` is the position a row stands at."""
        edges = [Edge(cursor=encode_cursor(cursor(row)), node=node(row)) for row in rows[:size]]
        return cls.page(edges, has_next_page=len(rows) > size,
                        has_previous_page=after is not None, **fields)

    @classmethod
    def ranked(cls, rows: list[dict[str, Any]], offset: int, size: int,
               node: Callable[[dict[str, Any]], NodeType]) -> Self:
        """The ``size`` rows after ``offset`` of a ranked list read to ``offset + size``
        (rows carry their 1-based ``rank`` and the list's ``total``), with ``total_count``."""
        page = [row for row in rows if offset < row["rank"] <= offset + size]
        total = int(rows[0]["total"]) if rows else 0
        edges = [Edge(cursor=encode_cursor(int(row["rank"])), node=node(row)) for row in page]
        return cls.page(edges, has_next_page=offset + len(page) < total,
                        has_previous_page=offset > 0, total_count=total)
