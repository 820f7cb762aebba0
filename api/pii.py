"""Masking of personal data, by role.

The rules (see docs/api.md):

- ``admin`` sees everything in clear.
- ``app`` (a front-line screen serving one customer) sees the name, numbers and
  address of the customer it looked up directly (``customer(id|msisdn)`` or
  ``node(id)``) in clear; every other person (contacts, list results) is masked.
  Identity numbers are always masked for ``app`` except their last four characters,
  enough to verify a caller.
- ``analyst`` sees all PII masked; analysis works on ids and aggregates.
"""

from __future__ import annotations

from api.auth import Principal, Role

MASK = "***"


def reveal_person(principal: Principal, *, subject: bool) -> bool:
    """Whether names, numbers and addresses of this person are shown in clear."""
    if principal.role is Role.ADMIN:
        return True
    return principal.role is Role.APP and subject


def reveal_identity_number(principal: Principal) -> bool:
    return principal.role is Role.ADMIN


def mask_name(value: str | None) -> str | None:
    """First character, then a fixed mask: enough to match a voice on the phone."""
    if not value:
        return value
    return value[0] + MASK


def mask_msisdn(value: str | None) -> str | None:
    """Country and operator prefix and the last four digits, as on a bill: +86138****8000."""
    if not value:
        return value
    if len(value) <= 8:
        return MASK
    return value[:6] + "****" + value[-4:]


def shown_msisdn(principal: Principal, value: str, *, subject: bool = False) -> str:
    """A phone number as this principal may see it: in clear or masked."""
    if reveal_person(principal, subject=subject):
        return value
    return mask_msisdn(value) or ""


def mask_identity_number(value: str | None, *, keep_last: int = 0) -> str | None:
    if not value:
        return value
    if keep_last and len(value) > keep_last:
        return "*" * (len(value) - keep_last) + value[-keep_last:]
    return MASK


def mask_address(value: str | None) -> str | None:
    return MASK if value else value
