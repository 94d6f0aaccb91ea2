"""Sandboxed personalisation: checks at save time, rendering, escapes that fail, SMS length."""

import pytest

from campaigns.models import Campaign, Channel, Variant
from campaigns.services import content
from campaigns.services.content import (
    ContentError,
    content_check,
    message_render,
    template_check,
)
from tests.factories import ProfileFactory

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ settings }}",
    "{{ settings.SECRET_KEY }}",
    "{{ profile.save() }}",
    "{{ profile.delete() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler(1, 2).next() }}",
    "{{ joiner(',')() }}",
    "{{ namespace(a=1) }}",
    "{{ lipsum() }}",
    "{{ range(10) }}",
    "{{ name.__class__ }}",
    "{{ name['__class__'] }}",
    "{{ 'x{0.__class__}'.format(name) }}",
    "{{ traits.update({'vip': True}) }}",
    "{% set t = traits %}{{ t.pop('vip') }}",
    "{{ 'a' * 100000 }}",
    "{{ 9 ** 999999 }}",
    "{% include 'base.html' %}",
    "{% import 'base.html' as b %}",
    "{% extends 'base.html' %}",
]


def _campaign(channel=Channel.EMAIL):
    return Campaign(name="Spring", slug="spring", channel=channel, purpose="marketing")


def _variant(**content):
    return Variant(key="A", **content)


@pytest.mark.parametrize("source", ESCAPES)
def test_it_refuses_escape_attempts_at_save_time(source):
    error = template_check(source)

    assert error


@pytest.mark.parametrize("source", ESCAPES)
def test_it_never_executes_escape_attempts_at_render_time(source, monkeypatch):
    profile = ProfileFactory.build(pk=1, traits={"vip": True})
    campaign = _campaign()
    variant = _variant(subject="Hi", body_text=source)

    with pytest.raises(ContentError) as caught:
        message_render(campaign=campaign, variant=variant, profile=profile)

    assert "body_text" in caught.value.errors
    assert profile.traits == {"vip": True}


def test_it_reports_a_syntax_error_with_its_line():
    errors = content_check(
        channel=Channel.EMAIL, subject="Hi", body_text="Hello\n{{ name", body_html=""
    )

    assert errors["body_text"].startswith("Line 2:")


def test_it_names_an_unknown_variable_at_save_time():
    errors = content_check(
        channel=Channel.EMAIL, subject="Hi {{ nickname }}", body_text="Hello", body_html=""
    )

    assert "nickname" in errors["subject"]
    assert errors["subject"].startswith("Unknown variable")


def test_it_finds_unknown_variables_inside_blocks_and_filters():
    error = template_check("{% if city %}{{ frist_name | upper }}{% endif %}")

    assert "frist_name" in error


def test_it_accepts_every_whitelisted_field_and_any_trait():
    source = " ".join("{{ " + name + " }}" for name in sorted(content.allowed_variables()))

    assert template_check(source + " {{ traits.shoe_size | default('') }}") is None


def test_an_email_needs_a_subject_and_a_body():
    errors = content_check(channel=Channel.EMAIL, subject="", body_text="", body_html=" ")

    assert errors == {
        "subject": content.ERROR_EMAIL_SUBJECT,
        "body_text": content.ERROR_EMAIL_BODY,
    }


def test_an_sms_needs_a_text_and_no_html():
    errors = content_check(channel=Channel.SMS, subject="", body_text="", body_html="<p>x</p>")

    assert errors == {"body_text": content.ERROR_SMS_TEXT, "body_html": content.ERROR_SMS_HTML}


def test_a_valid_email_has_no_errors():
    errors = content_check(
        channel=Channel.EMAIL,
        subject="Hi {{ name }}",
        body_text="{{ city }} {{ unsubscribe_url }}",
        body_html="<p>{{ name }}</p>",
    )

    assert errors == {}


def test_it_renders_personalised_email_and_escapes_html_only():
    profile = ProfileFactory.build(pk=7, name="<b>Ann</b>", city="上海", traits={"size": 38})
    variant = _variant(
        subject="Hello {{ name }}",
        body_text="{{ name }} in {{ city }}, size {{ traits.size }}",
        body_html="<p>{{ name }}</p>",
    )

    rendered = message_render(campaign=_campaign(), variant=variant, profile=profile)

    assert rendered.subject == "Hello <b>Ann</b>"
    assert rendered.text == "<b>Ann</b> in 上海, size 38"
    assert rendered.html == "<p>&lt;b&gt;Ann&lt;/b&gt;</p>"


def test_an_sms_renders_text_only():
    profile = ProfileFactory.build(pk=7, name="Ann")
    variant = _variant(subject="ignored", body_text="Hi {{ name }}", body_html="<p>no</p>")

    rendered = message_render(campaign=_campaign(Channel.SMS), variant=variant, profile=profile)

    assert rendered == content.Rendered(subject="", text="Hi Ann", html="")


def test_a_missing_trait_fails_at_render_with_a_clear_error():
    profile = ProfileFactory.build(pk=7, traits={})
    variant = _variant(subject="x", body_text="{{ traits.size }}")

    with pytest.raises(ContentError) as caught:
        message_render(campaign=_campaign(), variant=variant, profile=profile)

    assert "size" in caught.value.errors["body_text"]


def test_extra_values_supply_the_links():
    profile = ProfileFactory.build(pk=7)
    variant = _variant(subject="x", body_text="Stop: {{ unsubscribe_url }}")

    rendered = message_render(
        campaign=_campaign(),
        variant=variant,
        profile=profile,
        extra={"unsubscribe_url": "https://u/1", "preferences_url": "https://p/1"},
    )

    assert rendered.text == "Stop: https://u/1"


def test_it_renders_from_a_plain_mapping_too():
    row = {"id": 3, "name": "Bo", "phone": "+8613800138000", "traits": None}
    variant = _variant(body_text="{{ name }} {{ phone }} {{ traits }}")

    rendered = message_render(campaign=_campaign(Channel.SMS), variant=variant, profile=row)

    assert rendered.text == "Bo +8613800138000 {}"


def test_it_compiles_each_variant_once_for_many_messages(monkeypatch):
    calls = []
    original = content.CompiledContent.__init__

    def counting(self, **kwargs):
        calls.append(1)
        original(self, **kwargs)

    monkeypatch.setattr(content.CompiledContent, "__init__", counting)
    content._compiled.cache_clear()
    variant = _variant(subject="s", body_text="Hi {{ name }} #unique-for-this-test")
    profiles = [ProfileFactory.build(pk=n, name=f"N{n}") for n in range(200)]

    texts = [
        message_render(campaign=_campaign(), variant=variant, profile=p).text for p in profiles
    ]

    assert len(calls) == 1
    assert texts[199] == "Hi N199 #unique-for-this-test"


def test_an_edited_variant_is_recompiled():
    variant = _variant(subject="s", body_text="one")
    profile = ProfileFactory.build(pk=1)
    message_render(campaign=_campaign(), variant=variant, profile=profile)

    variant.body_text = "two"

    assert message_render(campaign=_campaign(), variant=variant, profile=profile).text == "two"
