"""Phone normalisation: the shortcuts around ``phonenumbers.parse`` agree with it."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from ingest.validate import is_valid, to_e164

REGIONS = ("CN", "DK", "US", "GB", "DE", "IN", "BR", "AR", "MX", "RU", "IT", "HU", "BY")


def by_parse(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize("region", REGIONS)
def test_shortcuts_agree_with_parse(region: str) -> None:
    rng = random.Random(region)
    code = str(phonenumbers.country_code_for_region(region))
    national = str(phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE).national_number)

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    values = []
    for _ in range(150):
        near = national[:-3] + digits(3)
        values += [near, code + near, "+" + code + near, code + code + near[:-2],
                   digits(rng.randint(3, 13)), "+" + digits(rng.randint(6, 14)),
                   "00" + code + near, "0" + near]
    agree = [(v, to_e164(v, region), by_parse(v, region)) for v in values]
    assert [a for a in agree if a[1] != a[2]] == []
    assert sum(a[2] is not None for a in agree) > 100


def test_written_forms_of_one_number() -> None:
    forms = ["+8613800138000", "13800138000", "8613800138000", "+86 138-0013 8000",
             "(+86) 138 0013 8000", "008613800138000"]
    assert {to_e164(f, "CN") for f in forms} == {"+8613800138000"}
    assert to_e164("12345", "CN") is None
    assert to_e164("28000300", "DK") == "+4528000300"


def test_validity_agrees_with_is_valid_number_for_every_type_and_region() -> None:
    """Asking mobile first must not change which numbers are valid, for any type."""
    rng = random.Random(7)
    checked = valid = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                     phonenumbers.PhoneNumberType.TOLL_FREE,
                     phonenumbers.PhoneNumberType.PREMIUM_RATE,
                     phonenumbers.PhoneNumberType.VOIP, phonenumbers.PhoneNumberType.UAN):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = str(example.national_number)
            for _ in range(8):
                cut = rng.randint(0, min(4, len(national) - 1))
                near = national[:len(national) - cut] + "".join(
                    rng.choice("0123456789") for _ in range(cut + rng.randint(-1, 1)))
                if not near or near.startswith("0"):
                    continue
                number = phonenumbers.PhoneNumber(country_code=example.country_code,
                                                  national_number=int(near))
                expected = phonenumbers.is_valid_number(number)
                assert is_valid(example.country_code, near) == expected, (region, kind, near)
                checked += 1
                valid += expected
    assert checked > 3000 and valid > 1000
