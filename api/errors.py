"""Errors clients may see, and the rule that hides every other one."""

from __future__ import annotations

from graphql import GraphQLError


class PublicError(Exception):
    """A client mistake whose message is safe to return (bad id, page too large, …)."""


def should_mask(error: GraphQLError) -> bool:
    """Mask anything raised by our code except :class:`PublicError`.

    Syntax and validation errors (including the depth, token and alias limits) have no
    original exception and describe only the client's document, so they pass.
    """
    original = error.original_error
    if original is None:
        return False
    return not isinstance(original, PublicError | GraphQLError)
