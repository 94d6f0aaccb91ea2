"""Phone numbers of imported rows: E.164 form, with a fast path for numbers already in it."""

import functools
import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext_noop
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    region_code_for_country_code,
)

from core.errors import coded
from profiles.ingest.rows import RowInvalid

ERROR_PHONE = coded("import.phone", gettext_noop("phone {value!r} is not a valid phone number"))
_E164 = re.compile(r"\+[1-9][0-9]{2,18}")


def parse_phone(value: str) -> str:
    """Return the number in E.164 form, refusing what phonenumbers finds invalid."""
    if _E164.fullmatch(value) and _e164_valid(value):
        return value
    try:
        number = phonenumbers.parse(value, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise RowInvalid(ERROR_PHONE, value=value) from None
    if not phonenumbers.is_valid_number(number):
        raise RowInvalid(ERROR_PHONE, value=value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_e164(value: str) -> str:
    """Return a stored number in E.164 form when phonenumbers finds it valid, else "" (the fast
    path of ``parse_phone`` for numbers already stored as E.164: no parse per message)."""
    try:
        return parse_phone(str(value or "").strip())
    except RowInvalid:
        return ""


def _e164_valid(value: str) -> bool:
    """Return True when phonenumbers would parse ``value`` ("+" and digits) unchanged as valid.

    A shortcut for numbers already in E.164 form, taking the steps phonenumbers.parse takes
    for them: the country code is the shortest known prefix of the digits, the rest is the
    national number. Whenever parse could change the number (a national prefix it might strip,
    leading zeros) or find it invalid, return False and let the full parse decide.
    """
    digits = value[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    national = digits[size:]
    if not 2 <= len(national) <= 17 or national[0] == "0":
        return False
    rules = _code_rules(code)
    if rules is None:
        return False
    if rules.national_prefix and rules.national_prefix.match(national):
        return False
    if rules.regions > 1:  # which region is decided number by number: let phonenumbers do it
        number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
        return phonenumbers.is_valid_number(number)
    return _matches(national, rules.general) and any(_matches(national, t) for t in rules.types)


# The number types phonenumbers tells apart, the most common first. A number is valid when it
# matches its region's general pattern and the pattern of at least one type; phonenumbers tries
# the rare types first because it names the type, which a validity test does not need.
_NUMBER_TYPES = (
    "mobile", "fixed_line", "toll_free", "premium_rate", "shared_cost", "voip",
    "personal_number", "pager", "uan", "voicemail",
)  # fmt: skip


@dataclass(frozen=True)
class _CodeRules:
    """What the E.164 shortcut needs of one calling code's metadata, patterns compiled once."""

    regions: int
    national_prefix: re.Pattern | None
    general: tuple | None
    types: tuple


def _number_desc(desc) -> tuple | None:
    """Return a number description as (possible lengths, compiled national number pattern)."""
    if desc is None or not desc.national_number_pattern:
        return None  # as in phonenumbers: without a pattern nothing matches
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


def _matches(national: str, desc: tuple | None) -> bool:
    """Return what phonenumbers' ``_is_number_matching_desc`` returns for ``national``."""
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(national) not in lengths:
        return False
    return pattern.fullmatch(national) is not None


@functools.cache
def _code_rules(code: int) -> _CodeRules | None:
    """Return the rules of a calling code, read from phonenumbers' metadata once per code."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, region_code_for_country_code(code)
    )
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    return _CodeRules(
        regions=len(COUNTRY_CODE_TO_REGION_CODE[code]),
        national_prefix=re.compile(prefix) if prefix else None,
        general=_number_desc(metadata.general_desc),
        types=tuple(_number_desc(getattr(metadata, kind)) for kind in _NUMBER_TYPES),
    )
