"""The catalogue of profile fields: one entry per column of ``profiles.Profile``, data only.

Each entry says what the field is (name, storage type, label, group) and where it may go:
personal data (masked in the audit trail, erased on request), imported from CSV, used in segment
rules (with which operator family), shown to message templates, listed by the API, exported to the
data subject. The tuples at the end are the views the apps read. Adding a profile field is one
entry here, in the model's order, plus its migration; ``tests/core/test_fields.py`` checks that
the two agree.
"""

from typing import NamedTuple

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# Storage types (the model field each stands for is checked by the tests).
TEXT = "text"
EMAIL = "email"
PHONE = "phone"
CHOICE = "choice"
DATE = "date"
DATETIME = "datetime"
WHOLE = "whole"
DECIMAL = "decimal"
JSON = "json"
TEXT_TYPES = frozenset({TEXT, EMAIL, PHONE, CHOICE})  # stored as text, blank rather than null

# Groups: who writes the field.
DECLARED = "declared"  # what we are told about the person: imports, the API, forms
FEATURE = "feature"  # computed from behaviour by the feature refresh
JOURNEY = "journey"  # written by the journeys app's stage refresh
RECORD = "record"  # bookkeeping times of the row

# Operator families of segment rules (``segments.rules`` maps each to its value type).
RULE_TEXT = "text"
RULE_CHOICE = "choice"  # one of the field's choices
RULE_WHOLE = "whole"
RULE_DECIMAL = "decimal"
RULE_DATE = "date"
RULE_DATETIME = "datetime"


class ProfileField(NamedTuple):
    """One profile field and the parts of the product that may use it."""

    name: str
    type: str
    label: str
    group: str
    key: bool = False  # the identifier that finds the profile (CSV, API, URLs)
    personal: bool = False  # identifies or describes the person: masked in audit, erased
    importable: bool = False  # a column of the CSV import (and a field of the API upsert)
    rule: str | None = None  # the operator family segment rules use it with, None if not
    template: bool = False  # a variable of message templates
    listed: bool = False  # a column of the API's profile list
    exported: bool = True  # in a data-subject export


def _declared(name, type_, label, **flags) -> ProfileField:
    return ProfileField(name, type_, label, DECLARED, **flags)


def _feature(name, type_, label, **flags) -> ProfileField:
    return ProfileField(name, type_, label, FEATURE, **flags)


# fmt: off
PROFILE_FIELD_CATALOGUE: tuple[ProfileField, ...] = (
    _declared("external_id", TEXT, _("external ID"), key=True, personal=True, rule=RULE_TEXT,
              template=True, listed=True),
    _declared("email", EMAIL, _("email"), personal=True, importable=True, rule=RULE_TEXT,
              template=True, listed=True),
    _declared("phone", PHONE, _("phone"), personal=True, importable=True, rule=RULE_TEXT,
              template=True, listed=True),
    _declared("name", TEXT, pgettext_lazy("person", "name"), personal=True, importable=True,
              rule=RULE_TEXT, template=True, listed=True),
    _declared("gender", CHOICE, _("gender"), personal=True, importable=True, rule=RULE_CHOICE,
              template=True, listed=True),
    _declared("birth_date", DATE, _("birth date"), personal=True, importable=True,
              rule=RULE_DATE, template=True),
    _declared("city", TEXT, _("city"), personal=True, importable=True, rule=RULE_TEXT,
              template=True, listed=True),
    _declared("region", TEXT, _("region"), importable=True, rule=RULE_TEXT, template=True,
              listed=True),
    _declared("signup_at", DATETIME, _("signed up at"), importable=True, rule=RULE_DATETIME,
              template=True, listed=True),
    _declared("channel", TEXT, _("acquisition channel"), rule=RULE_TEXT),
    _declared("wechat_openid", TEXT, _("WeChat openid"), personal=True, importable=True,
              rule=RULE_TEXT),
    _declared("wechat_unionid", TEXT, _("WeChat unionid"), personal=True, importable=True,
              rule=RULE_TEXT),
    _declared("wecom_external_userid", TEXT, _("WeCom external user ID"), personal=True,
              importable=True, rule=RULE_TEXT),
    _declared("traits", JSON, _("traits"), personal=True, template=True),
    _feature("recency_days", WHOLE, _("recency (days)"), rule=RULE_WHOLE, template=True),
    _feature("frequency", WHOLE, _("frequency"), rule=RULE_WHOLE, template=True),
    _feature("monetary", DECIMAL, _("monetary"), rule=RULE_DECIMAL, template=True),
    _feature("r_score", WHOLE, _("R score"), rule=RULE_WHOLE),
    _feature("f_score", WHOLE, _("F score"), rule=RULE_WHOLE),
    _feature("m_score", WHOLE, _("M score"), rule=RULE_WHOLE),
    _feature("value_tier", CHOICE, _("value tier"), rule=RULE_CHOICE, template=True,
             listed=True),
    _feature("last_seen_at", DATETIME, _("last seen at"), rule=RULE_DATETIME, listed=True),
    _feature("first_purchase_at", DATETIME, _("first purchase at"), rule=RULE_DATETIME),
    _feature("last_purchase_at", DATETIME, _("last purchase at"), rule=RULE_DATETIME),
    _feature("features_at", DATETIME, _("features refreshed at")),
    _feature("touchpoints", WHOLE, _("recent touchpoints"), exported=False),  # bits: see models
    ProfileField("stage", TEXT, _("journey stage"), JOURNEY, exported=False),
    ProfileField("stage_entered_at", DATETIME, _("stage entered at"), JOURNEY, exported=False),
    ProfileField("created_at", DATETIME, _("created at"), RECORD),
    ProfileField("updated_at", DATETIME, _("updated at"), RECORD),
)
# fmt: on

PROFILE_FIELDS_BY_NAME = {field.name: field for field in PROFILE_FIELD_CATALOGUE}


def _names(*, group: str | None = None, **flags) -> tuple[str, ...]:
    return tuple(
        field.name
        for field in PROFILE_FIELD_CATALOGUE
        if (group is None or field.group == group)
        and all(getattr(field, flag) == value for flag, value in flags.items())
    )


# The views the apps read, in the model's order.
DECLARED_FIELDS = _names(group=DECLARED)  # what the audit trail tracks
FEATURE_FIELDS = _names(group=FEATURE)  # computed features, incl. when they were refreshed
RECORD_FIELDS = _names(group=RECORD)  # when the row was created and last saved
PERSONAL_FIELDS = _names(personal=True)  # masked in the audit trail, erased on request
IMPORTED_FIELDS = _names(importable=True)  # CSV columns besides external_id and traits
TEMPLATE_FIELDS = _names(template=True)  # variables of message templates
LISTED_FIELDS = _names(listed=True)  # columns of the API's profile list
# Filled on the kept profile from the merged one when empty (traits are merged key by key).
MERGE_FILLED_FIELDS = tuple(
    name for name in _names(group=DECLARED, key=False) if PROFILE_FIELDS_BY_NAME[name].type != JSON
)
# What segment rules may compare, and with which operator family.
RULE_FIELDS = {field.name: field.rule for field in PROFILE_FIELD_CATALOGUE if field.rule}
BEHAVIOUR_FIELDS = frozenset(name for name in RULE_FIELDS if name in FEATURE_FIELDS)
