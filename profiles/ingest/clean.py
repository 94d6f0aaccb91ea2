"""Clean one imported row: check each field of a profile or an event and return what to store.

Every function raises ``RowInvalid`` with a message naming the field and the problem.
"""

import datetime
import decimal
import json
import math
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, validate_email
from django.utils.translation import gettext_noop

from core import fields
from core.errors import coded
from profiles.ingest.devices import DEVICE_COLUMNS, clean_device
from profiles.ingest.identity import IDENTIFIERS, parse_identifier
from profiles.ingest.phones import parse_phone
from profiles.ingest.rows import RowInvalid
from profiles.models import Gender, Profile, Touchpoint
from profiles.places import city_normalised, region_normalised
from profiles.sql import PROFILE_FIELDS

EVENT_REQUIRED = ("external_id", "name", "occurred_at")
EVENT_OPTIONAL = ("event_id", "amount", "channel", "properties", *IDENTIFIERS)
# The columns an events file needs: an external_id column may be replaced by identifier columns.
EVENT_COLUMNS_REQUIRED = (("external_id", *IDENTIFIERS), "name", "occurred_at")

ERROR_REQUIRED = coded("import.required", gettext_noop("{column} is required"))
ERROR_TOO_LONG = coded(
    "import.too_long", gettext_noop("{column} is longer than {limit} characters")
)
ERROR_EMAIL = coded("import.email", gettext_noop("email {value!r} is not a valid email address"))
ERROR_GENDER = coded(
    "import.gender", gettext_noop("gender {value!r} is not one of female, male, other, unknown")
)
ERROR_DATE = coded("import.date", gettext_noop("{column} {value!r} is not a date (YYYY-MM-DD)"))
ERROR_DATETIME = coded(
    "import.datetime", gettext_noop("{column} {value!r} is not an ISO 8601 date or date-time")
)
ERROR_AMOUNT = coded("import.amount", gettext_noop("amount {value!r} is not a number"))
ERROR_CHANNEL = coded("import.channel", gettext_noop("channel {value!r} is not one of {choices}"))
ERROR_PROPERTIES_JSON = coded(
    "import.properties_json", gettext_noop("properties is not valid JSON: {reason}")
)
ERROR_PROPERTIES_VALUE = coded(
    "import.properties_value",
    gettext_noop("properties holds a value that cannot be stored (NaN, infinity, bad text)"),
)
ERROR_PROPERTIES_OBJECT = coded(
    "import.properties_object", gettext_noop("properties must be a JSON object, not {kind}")
)
ERROR_TRAIT_KEY = coded(
    "import.trait_key", gettext_noop("column {column!r} is not a usable trait name")
)
ERROR_TRAIT_VALUE = coded(
    "import.trait_value",
    gettext_noop(
        "trait {key!r} must be text (up to 1000 characters), a finite number or true/false"
    ),
)
ERROR_TOO_MANY_TRAITS = coded(
    "import.too_many_traits",
    gettext_noop("the row has {count} traits; a profile holds at most {limit}"),
)
ERROR_TEXT = coded("import.text", gettext_noop("{column} is not valid Unicode text"))
ERROR_NUL = coded("import.nul", gettext_noop("{column} contains a NUL character"))
ERROR_EVENT_PROFILE = coded(
    "import.event_profile",
    gettext_noop(
        "external_id is required, or one of wechat_unionid, wechat_openid, wecom_external_userid"
    ),
)

GENDER_ALIASES = {
    "f": Gender.FEMALE, "female": Gender.FEMALE, "女": Gender.FEMALE, "woman": Gender.FEMALE,
    "m": Gender.MALE, "male": Gender.MALE, "男": Gender.MALE, "man": Gender.MALE,
    "other": Gender.OTHER, "其他": Gender.OTHER,
    "unknown": Gender.UNKNOWN, "未知": Gender.UNKNOWN, "": Gender.UNKNOWN,
}  # fmt: skip
CHANNELS = frozenset(Touchpoint.values)
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]+")
_TRAIT_KEY = re.compile(r"^[\w][\w .:-]{0,63}$")
# Addresses Django's EmailValidator accepts without its slower steps: its own dot-atom local
# part and its own domain pattern, joined by "@" (neither part can hold an "@").
_EMAIL_PLAIN = re.compile(
    r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*@"
    + EmailValidator.domain_regex.pattern.removeprefix("^").removesuffix(r"\Z"),
    re.IGNORECASE,
)


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def parse_moment(value: str, column: str) -> datetime.datetime:
    """Return an aware datetime; a date alone is midnight, a naive time is local time."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            moment = datetime.datetime.combine(day, datetime.time(0), tzinfo=_tz())
        else:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RowInvalid(ERROR_DATETIME, column=column, value=value) from None
    return storable_moment(moment, column, value)


def storable_moment(moment: datetime.datetime, column: str, shown) -> datetime.datetime:
    """Return ``moment`` in UTC (naive means local time), refusing what no database can hold.

    Offsets up to ±23:59 are valid ISO 8601 but PostgreSQL takes ±15:59 at most, and an
    offset can push year 1 or 9999 out of range: converting to UTC settles both.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_tz())
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        raise RowInvalid(ERROR_DATETIME, column=column, value=shown) from None


def parse_date(value: str, column: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise RowInvalid(ERROR_DATE, column=column, value=value) from None


def trait_value(text: str):
    """Return a CSV cell as a trait: whole and decimal numbers as numbers, else the text.

    Numbers with leading zeros ("007") stay text, so identifiers keep their digits.
    """
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _text(row: dict, column: str, limit: int) -> str:
    value = row.get(column)
    if value is None:
        return ""
    value = str(value).strip()
    if len(value) > limit:
        raise RowInvalid(ERROR_TOO_LONG, column=column, limit=limit)
    if "\x00" in value:
        raise RowInvalid(ERROR_NUL, column=column)
    if not value.isascii():  # ASCII always encodes; other text may hold an unpaired surrogate
        try:
            value.encode()
        except UnicodeEncodeError:  # possible in JSON input
            raise RowInvalid(ERROR_TEXT, column=column) from None
    return value


def _trait_key(key) -> str:
    if not isinstance(key, str) or not _TRAIT_KEY.match(key) or "\x00" in key:
        raise RowInvalid(ERROR_TRAIT_KEY, column=key)
    return key


def _trait_item(key: str, item):
    """Return a trait value: text, a finite number or true/false (nested values are refused)."""
    if isinstance(item, bool):
        return item
    if isinstance(item, int | float) and math.isfinite(item) and abs(item) < 2**63:
        return item
    if isinstance(item, str):
        if "\x00" in item or len(item) > 1000:
            raise RowInvalid(ERROR_TRAIT_VALUE, key=key)
        return item
    raise RowInvalid(ERROR_TRAIT_VALUE, key=key)


def _email(value: str) -> str:
    if not _EMAIL_PLAIN.fullmatch(value):  # anything else: Django's validator decides
        try:
            validate_email(value)
        except ValidationError:
            raise RowInvalid(ERROR_EMAIL, value=value) from None
    return value.lower()


def _gender(value: str) -> str:
    try:
        return GENDER_ALIASES[value.lower()]
    except KeyError:
        raise RowInvalid(ERROR_GENDER, value=value) from None


# How long a cell may be and how it is read, by the type the catalogue of profile fields
# (``core.fields``) gives each importable field; text fields take their column's max_length.
_LONGEST = {
    fields.EMAIL: 254,
    fields.PHONE: 32,
    fields.CHOICE: 20,
    fields.DATE: 20,
    fields.DATETIME: 40,
}
_PARSERS = {
    fields.EMAIL: lambda value, column: _email(value),
    fields.PHONE: lambda value, column: parse_phone(value),
    fields.DATE: parse_date,
    fields.DATETIME: parse_moment,
}
_CHOICE_PARSERS = {"gender": lambda value, column: _gender(value)}  # aliases: 女, F, male …
# Fields read by name: one spelling of a place (上海市, Shanghai → 上海; profiles.places).
_NAMED_PARSERS = {
    "city": lambda value, column: city_normalised(value),
    "region": lambda value, column: region_normalised(value),
    **dict.fromkeys(IDENTIFIERS, parse_identifier),  # letters, digits, - and _ only
}


def _profile_column(name: str) -> tuple[str, int, Callable[[str, str], Any] | None]:
    kind = fields.PROFILE_FIELDS_BY_NAME[name].type
    longest = _LONGEST.get(kind) or Profile._meta.get_field(name).max_length
    parse = _CHOICE_PARSERS[name] if kind == fields.CHOICE else _PARSERS.get(kind)
    return name, longest, _NAMED_PARSERS.get(name, parse)


# The profile fields in the order they are checked: (column, longest text, parser or None).
_PROFILE_COLUMNS = tuple(_profile_column(name) for name in PROFILE_FIELDS)


def clean_profile_row(row: dict) -> dict:
    """Validate one profile row; return the fields to store (empty ones left out)."""
    external_id = _text(row, "external_id", 128)
    if not external_id:
        raise RowInvalid(ERROR_REQUIRED, column="external_id")
    clean = {"external_id": external_id}
    for column, limit, parse in _PROFILE_COLUMNS:
        if value := _text(row, column, limit):
            clean[column] = parse(value, column) if parse else value
    clean["traits"] = _traits(row)
    if device := clean_device(row):
        clean["device"] = device
    return clean


_NOT_TRAITS = frozenset(("external_id", *DEVICE_COLUMNS))


def _traits(row: dict) -> dict:
    """Return the traits of a profile row: its unknown columns, or the API's traits object.

    A row with more than PROFILE_MAX_TRAITS traits is refused (counted before each is checked).
    """
    limit = settings.PROFILE_MAX_TRAITS
    traits = {}
    for column, value in row.items():
        if column is None or column in PROFILE_FIELDS or column in _NOT_TRAITS:
            continue
        if column == "traits" and isinstance(value, dict):  # the API sends traits as an object
            if len(value) > limit:
                raise RowInvalid(ERROR_TOO_MANY_TRAITS, count=len(value), limit=limit)
            for key, item in value.items():
                if item is not None:  # like an empty CSV cell: keep what is stored
                    traits[_trait_key(key)] = _trait_item(key, item)
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        key = _trait_key(column)
        traits[key] = (
            trait_value(value.strip()) if isinstance(value, str) else _trait_item(key, value)
        )
    if len(traits) > limit:
        raise RowInvalid(ERROR_TOO_MANY_TRAITS, count=len(traits), limit=limit)
    return traits


def clean_event_row(row: dict) -> dict:
    """Validate one event row; return the fields to store."""
    for column in EVENT_REQUIRED[1:]:
        if not _text(row, column, 1000):
            raise RowInvalid(ERROR_REQUIRED, column=column)
    external_id = _text(row, "external_id", 128)
    identifiers = _identifiers(row)
    if not external_id and not identifiers:
        raise RowInvalid(ERROR_EVENT_PROFILE)
    name = _text(row, "name", 64)
    occurred_raw = row["occurred_at"]
    if isinstance(occurred_raw, datetime.datetime):
        occurred_at = storable_moment(occurred_raw, "occurred_at", occurred_raw)
    else:
        occurred_at = parse_moment(str(occurred_raw), "occurred_at")
    amount = _amount(row.get("amount"))
    channel = _text(row, "channel", 32) or Touchpoint.OTHER
    if channel not in CHANNELS:
        raise RowInvalid(ERROR_CHANNEL, value=channel, choices=", ".join(sorted(CHANNELS)))
    properties, properties_json = _properties(row.get("properties"))
    return {
        "external_id": external_id,
        "name": name,
        "occurred_at": occurred_at,
        "amount": amount,
        "channel": channel,
        "properties": properties,
        "properties_json": properties_json,
        "event_id": _text(row, "event_id", 100),
        **identifiers,
    }


def _identifiers(row: dict) -> dict:
    """Return the row's WeChat and WeCom identifiers that are not empty, checked."""
    found = {}
    for name in IDENTIFIERS:
        if value := _text(row, name, 64):
            found[name] = parse_identifier(value, name)
    return found


def _amount(raw) -> decimal.Decimal | None:
    """Return an amount rounded to cents (None when empty), refusing what no column can hold."""
    if raw is None or str(raw).strip() == "":
        return None
    try:
        amount = decimal.Decimal(str(raw).strip())
    except decimal.InvalidOperation:
        raise RowInvalid(ERROR_AMOUNT, value=raw) from None
    if not amount.is_finite() or abs(amount) >= 10**12:
        raise RowInvalid(ERROR_AMOUNT, value=raw)
    amount = amount.quantize(decimal.Decimal("0.01"))
    if abs(amount) >= 10**12:  # rounding can carry past the limit
        raise RowInvalid(ERROR_AMOUNT, value=raw)
    return amount


def _refuse_constant(name: str):
    raise json.JSONDecodeError(f"{name} is not allowed", name, 0)


def _properties(properties) -> tuple[dict, str]:
    """Return the properties object and its JSON text (canonical text for an API object)."""
    properties_json = "{}"
    if properties is None or properties == "":
        properties = {}
    elif isinstance(properties, str):
        try:
            properties_json = properties
            properties = json.loads(properties, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise RowInvalid(ERROR_PROPERTIES_JSON, reason=exc.msg) from None
    else:
        properties_json = None
    if not isinstance(properties, dict):
        raise RowInvalid(ERROR_PROPERTIES_OBJECT, kind=type(properties).__name__)
    if properties_json is None:  # an object from the API: canonical text
        try:
            properties_json = json.dumps(
                properties, ensure_ascii=False, sort_keys=True, allow_nan=False
            )
        except (ValueError, TypeError):
            raise RowInvalid(ERROR_PROPERTIES_VALUE) from None
    try:
        properties_json.encode()
    except UnicodeEncodeError:  # an unpaired surrogate
        raise RowInvalid(ERROR_PROPERTIES_VALUE) from None
    if "\\u0000" in properties_json or "\x00" in properties_json:
        raise RowInvalid(ERROR_NUL, column="properties")
    return properties, properties_json
