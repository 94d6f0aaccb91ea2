"""The plain-address shortcut of profile cleaning accepts what Django's validator accepts."""

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import given
from hypothesis import strategies as st

from profiles.ingest import ERROR_EMAIL, RowInvalid, clean_profile_row
from profiles.ingest.clean import _EMAIL_PLAIN


def django_accepts(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def cleaned_email(value: str) -> str:
    """Return the stored address, or the row's error (cells are stripped first)."""
    try:
        return clean_profile_row({"external_id": "e-1", "email": value}).get("email", "")
    except RowInvalid as exc:
        return str(exc)


ADDRESSES = [
    "li.na@example.com", "LI.NA@EXAMPLE.COM", "a+tag@sub.example.co.uk", "x@example.xn--fiqs8s",
    "用户@例子.公司", "user@localhost", "user@[127.0.0.1]", "user@[::1]", '"quoted"@example.com',
    "a..b@example.com", ".a@example.com", "a.@example.com", "a@-example.com", "a@example-.com",
    "a@example", "a@example.c", "a@@example.com", "a@b@example.com", "@example.com", "a@",
    "a b@example.com", "a@exa mple.com", "a@example.com\n", "a@例子.公司", "ſ@example.com",
    "K@example.com", "a@example.123", "a@" + "x" * 64 + ".com", "a@" + "x" * 63 + ".com",
]  # fmt: skip


def validator_outcome(value: str) -> str:
    value = value.strip()
    return value.lower() if django_accepts(value) else ERROR_EMAIL.format(value=value)


@pytest.mark.parametrize("value", ADDRESSES)
def test_known_addresses_get_the_validator_outcome(value):
    assert cleaned_email(value) == validator_outcome(value)


def test_the_shortcut_never_accepts_what_the_validator_refuses():
    accepted = [value for value in ADDRESSES if _EMAIL_PLAIN.fullmatch(value)]
    assert "li.na@example.com" in accepted  # the shortcut is taken at all
    assert all(django_accepts(value) for value in accepted)


@given(st.from_regex(r"\A[-a-zA-Z0-9.+_!#ſ\"@ \[\]:]{1,30}@[-a-zA-Z0-9.例子]{0,30}\Z"))
def test_any_address_gets_the_validator_outcome(value):
    if _EMAIL_PLAIN.fullmatch(value):
        assert django_accepts(value), value
    assert cleaned_email(value) == validator_outcome(value)


@given(st.emails())
def test_generated_emails_get_the_validator_outcome(value):
    assert bool(_EMAIL_PLAIN.fullmatch(value)) <= django_accepts(value)
