"""The E.164 shortcut of parse_phone gives what phonenumbers itself gives, number by number."""

import phonenumbers
import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from profiles.ingest import ERROR_PHONE, RowInvalid, parse_phone


def phonenumbers_outcome(value: str) -> str:
    """Return the E.164 text or the error, taking the full phonenumbers path only."""
    try:
        number = phonenumbers.parse(value, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return ERROR_PHONE.format(value=value)
    if not phonenumbers.is_valid_number(number):
        return ERROR_PHONE.format(value=value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def our_outcome(value: str) -> str:
    try:
        return parse_phone(value)
    except RowInvalid as exc:
        return str(exc)


def example_numbers() -> list[str]:
    """Return valid numbers of every region, calling code and type, in E.164 form."""
    numbers = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in phonenumbers.PhoneNumberType.values():
            if example := phonenumbers.example_number_for_type(region, kind):
                numbers.add(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        if example := phonenumbers.example_number_for_non_geo_entity(code):
            numbers.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return sorted(numbers)


def near_misses(number: str) -> list[str]:
    """Return ``number`` with a digit more, a digit less, a digit changed, or a prefix inserted."""
    code = str(phonenumbers.parse(number).country_code)
    national = number[1 + len(code) :]
    return [
        number + "5",
        number[:-1],
        number[:-1] + str((int(number[-1]) + 1) % 10),
        f"+{code}0{national}",
        f"+{code}1{national}",
        f"+{code}00{national}",
        f"+{code}8{national}",
    ]


EXAMPLES = example_numbers()


def test_the_examples_cover_many_countries():
    assert len(EXAMPLES) > 1000


@pytest.mark.parametrize("number", EXAMPLES)
def test_valid_numbers_and_their_near_misses_get_the_phonenumbers_outcome(number):
    for value in [number, *near_misses(number)]:
        assert our_outcome(value) == phonenumbers_outcome(value), value


@given(st.from_regex(r"\A\+[0-9]{1,20}\Z"))
def test_any_plus_and_digits_gets_the_phonenumbers_outcome(value):
    assert our_outcome(value) == phonenumbers_outcome(value)


def test_national_and_formatted_numbers_still_take_the_full_parse():
    assert parse_phone("13812345678") == "+8613812345678"
    assert parse_phone("+86 138 1234 5678") == "+8613812345678"
    assert parse_phone("+8613812345678") == "+8613812345678"
