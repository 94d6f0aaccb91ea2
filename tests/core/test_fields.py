"""The catalogue of profile fields agrees with the Profile model, and the apps read it."""

import pytest
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField

from core import fields as catalogue
from profiles.models import Profile

STORAGE = {
    catalogue.EMAIL: models.EmailField,
    catalogue.PHONE: PhoneNumberField,
    catalogue.DATETIME: models.DateTimeField,
    catalogue.DATE: models.DateField,
    catalogue.WHOLE: models.IntegerField,
    catalogue.DECIMAL: models.DecimalField,
    catalogue.JSON: models.JSONField,
    catalogue.CHOICE: models.CharField,
    catalogue.TEXT: models.CharField,
}


def model_fields() -> dict[str, models.Field]:
    return {field.name: field for field in Profile._meta.concrete_fields if field.name != "id"}


def test_the_catalogue_lists_every_column_of_profile_in_the_models_order():
    names = [field.name for field in catalogue.PROFILE_FIELD_CATALOGUE]

    assert names == list(model_fields())


@pytest.mark.parametrize("entry", catalogue.PROFILE_FIELD_CATALOGUE, ids=lambda entry: entry.name)
def test_each_entry_has_the_models_type_label_and_choices(entry):
    field = model_fields()[entry.name]

    assert isinstance(field, STORAGE[entry.type])
    assert entry.type == catalogue.DATETIME or not isinstance(field, models.DateTimeField)
    assert entry.type == catalogue.EMAIL or not isinstance(field, models.EmailField)
    assert bool(field.choices) == (entry.type == catalogue.CHOICE)
    assert str(entry.label) == str(field.verbose_name)
    assert entry.group in (
        catalogue.DECLARED,
        catalogue.FEATURE,
        catalogue.JOURNEY,
        catalogue.RECORD,
    )


def test_the_flags_fit_the_fields():
    entries = catalogue.PROFILE_FIELD_CATALOGUE
    rule_families = {
        catalogue.RULE_TEXT, catalogue.RULE_CHOICE, catalogue.RULE_WHOLE,
        catalogue.RULE_DECIMAL, catalogue.RULE_DATE, catalogue.RULE_DATETIME,
    }  # fmt: skip

    assert [entry.name for entry in entries if entry.key] == ["external_id"]
    assert all(entry.group == catalogue.DECLARED for entry in entries if entry.importable)
    assert all(entry.group == catalogue.DECLARED for entry in entries if entry.personal)
    assert {entry.rule for entry in entries if entry.rule} <= rule_families
    assert all(
        (entry.rule == catalogue.RULE_CHOICE) == (entry.type == catalogue.CHOICE)
        for entry in entries
        if entry.rule
    )


def test_the_views_are_drawn_from_the_flags():
    assert catalogue.PERSONAL_FIELDS == (
        "external_id", "email", "phone", "name", "gender", "birth_date", "city",
        "wechat_openid", "wechat_unionid", "wecom_external_userid", "traits",
    )  # fmt: skip
    assert catalogue.IMPORTED_FIELDS == (
        "email", "phone", "name", "gender", "birth_date", "city", "region", "signup_at",
        "wechat_openid", "wechat_unionid", "wecom_external_userid",
    )  # fmt: skip
    assert catalogue.MERGE_FILLED_FIELDS == (
        "email", "phone", "name", "gender", "birth_date", "city", "region", "signup_at",
        "channel", "wechat_openid", "wechat_unionid", "wecom_external_userid",
    )  # fmt: skip
    assert {
        "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "value_tier",
        "last_seen_at", "first_purchase_at", "last_purchase_at",
    } == catalogue.BEHAVIOUR_FIELDS  # fmt: skip
    assert "traits" not in catalogue.RULE_FIELDS and "stage" not in catalogue.RULE_FIELDS


def test_the_apps_read_their_lists_from_the_catalogue():
    from campaigns.services import content
    from profiles import audit
    from profiles.api import serializers
    from profiles.services import merge, privacy

    assert list(catalogue.DECLARED_FIELDS) == audit.PROFILE_FIELDS
    assert list(catalogue.PERSONAL_FIELDS) == audit.PROFILE_MASKED_FIELDS
    assert merge.FILLED_FIELDS == catalogue.MERGE_FILLED_FIELDS
    assert set(privacy.erased_values()) == set(catalogue.PERSONAL_FIELDS) - {"external_id"}
    assert content.PROFILE_FIELDS == catalogue.TEMPLATE_FIELDS
    assert serializers.ProfileSerializer.Meta.fields == list(catalogue.LISTED_FIELDS)


def test_a_new_entry_reaches_every_view_that_its_flags_name(monkeypatch):
    extra = catalogue.ProfileField(
        "nickname", catalogue.TEXT, "nickname", catalogue.DECLARED,
        personal=True, importable=True, rule=catalogue.RULE_TEXT, template=True,
    )  # fmt: skip
    entries = (*catalogue.PROFILE_FIELD_CATALOGUE, extra)
    monkeypatch.setattr(catalogue, "PROFILE_FIELD_CATALOGUE", entries)

    assert "nickname" in catalogue._names(personal=True)
    assert "nickname" in catalogue._names(importable=True)
    assert "nickname" in catalogue._names(template=True)
    assert "nickname" in catalogue._names(group=catalogue.DECLARED)


def test_an_importable_field_the_api_does_not_declare_is_accepted_as_text(monkeypatch):
    from profiles.api import serializers

    monkeypatch.setattr(serializers, "IMPORTED_FIELDS", (*catalogue.IMPORTED_FIELDS, "channel"))

    fields = serializers.ProfileUpsertSerializer().get_fields()

    assert fields["channel"].max_length == Profile._meta.get_field("channel").max_length
    assert fields["channel"].required is False
    assert list(fields)[:-1] == list(serializers.ProfileUpsertSerializer._declared_fields)
