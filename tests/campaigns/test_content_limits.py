"""Operators' templates are bounded (size, loops, time, nesting); each failure is a message."""

import time

import pytest
from django.urls import reverse
from django.utils import translation

from campaigns.models import Campaign, Channel, Variant
from campaigns.services import sandbox
from campaigns.services.content import ContentError, content_check, message_render, template_check
from tests.factories import ProfileFactory

TOO_BIG = sandbox.ERROR_TOO_BIG.format(limit=f"{sandbox.MAX_CHARS:,}")
TOO_BIG_REPEAT = sandbox.ERROR_TOO_BIG.format(limit=f"{sandbox.MAX_REPEAT:,}")
TOO_WIDE = sandbox.ERROR_TOO_WIDE.format(limit=f"{sandbox.MAX_WIDTH:,}")
TOO_MANY = sandbox.ERROR_TOO_MANY_ITERATIONS.format(limit=f"{sandbox.MAX_ITERATIONS:,}")
TOO_DEEP = sandbox.ERROR_TOO_DEEP.format(limit=sandbox.MAX_NESTING)

# Each makes a huge value or runs for long; each must be refused with the message beside it.
HOGS = [
    ("{{ name.center(5000000) }}", TOO_WIDE),
    ("{{ name.ljust(5000000) }}", TOO_WIDE),
    ("{{ name|center(5000000) }}", TOO_WIDE),
    ("{{ '%05000000d'|format(1) }}", TOO_WIDE),
    ("{{ '%.5000000f' % 1.5 }}", TOO_WIDE),
    ("{{ '%*d'|format(5000000, 1) }}", TOO_WIDE),
    ("{{ '{:>5000000}'.format(name) }}", TOO_WIDE),
    ("{{ '{:{w}}'.format(name, w=5000000) }}", TOO_WIDE),
    ("{{ name|indent(1000) * 1 }}{{ ('x\n' * 3000)|indent(1000) }}", TOO_BIG),
    ("{{ ('x' * 9000)|replace('', 'y' * 9000) }}", TOO_BIG),
    ("{{ ('x' * 9000).replace('', 'y' * 9000) }}", TOO_BIG),
    ("{{ ('x' * 9000)|list|join('y' * 9000) }}", TOO_BIG),
    ("{{ ('y' * 9000).join('x' * 9000) }}", TOO_BIG),
    ("{{ ['x' * 9000] * 9000 }}", TOO_BIG_REPEAT),
    ("{% for a in 'x' * 6000 %}{% for b in 'x' * 6000 %}{% endfor %}{% endfor %}", TOO_MANY),
    ("{% for a in 'x' * 9000 %}{{ 'y' * 9000 }}{% endfor %}", TOO_BIG),
    ("{% macro m() %}{% for a in 'x' * 9000 %}{{ 'y' * 9000 }}{% endfor %}{% endmacro %}{{ m() }}",
     TOO_BIG),
    ("{% for a in 'x' * 9000 %}" + "z" * 100 + "{% endfor %}", TOO_BIG),
    ("{% set a = 'x' * 9999 %}{{ a" + " ~ a" * 60 + " }}", TOO_BIG),
    ("{% set a = 'x' * 9999 %}{{ '" + "%s" * 60 + "' % (" + "a, " * 60 + ") }}", TOO_BIG),
    ("{% set a = 'x' * 9999 %}{{ '" + "{0}" * 60 + "'.format(a) }}", TOO_BIG),
    ("{% set a = 'x' * 9999 %}{{ '" + "%(a)s" * 60 + "'|format(a=a) }}", TOO_BIG),
    ("{% set a = 'x' * 9999 %}{{ [" + "a, " * 60 + "]|string }}", TOO_BIG),
    ("{% set a = 'x' * 9999 %}{{ (name|attr('center'))(5000000) }}", TOO_WIDE),
    ("{{ ((10 ** 100) ** 100) ** 100 }}", sandbox.ERROR_NUMBER_TOO_BIG),
    ("{{ (2 ** 99) ** 99 * (2 ** 99) ** 99 }}", sandbox.ERROR_NUMBER_TOO_BIG),
    ("{{ 9 ** 999999 }}", sandbox.ERROR_NUMBER_TOO_BIG),
]  # fmt: skip


@pytest.mark.parametrize(("source", "message"), HOGS)
def test_a_template_over_a_limit_is_refused_at_save_with_the_limit_named(source, message):
    started = time.monotonic()

    error = template_check(source)

    assert error == message
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("source", "message"), HOGS)
def test_a_template_over_a_limit_fails_its_render_with_the_limit_named(source, message):
    profile = ProfileFactory.build(pk=1, name="Ann")
    variant = Variant(key="A", subject="Hi", body_text=source)
    campaign = Campaign(slug="c", channel=Channel.EMAIL, purpose="marketing")

    with pytest.raises(ContentError) as caught:
        message_render(campaign=campaign, variant=variant, profile=profile)

    assert caught.value.errors == {"body_text": message}


def test_a_render_that_runs_too_long_is_stopped(monkeypatch):
    monkeypatch.setattr(sandbox, "MAX_SECONDS", 0.3)
    fan_out = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    started = time.monotonic()

    error = template_check(fan_out + "{{ f(40) }}")

    assert error == sandbox.ERROR_TOO_SLOW.format(seconds="0.3")
    assert time.monotonic() - started < 1.5


def test_ordinary_templates_stay_within_the_limits():
    source = (
        "{% for word in 'a b c d'.split() %}{{ loop.index }}:{{ word|upper|center(9) }}{% endfor %}"
        "{{ '%05.1f'|format(monetary) }} {{ '{:>12,}'.format(frequency * 1000) }}"
        "{{ name|replace('Li', 'Lee') }} {{ ['x', 'y']|join(', ') }} {{ 2 ** 64 }}"
        "{% for a in 'x' * 300 %}{% for b in 'y' * 300 %}{% endfor %}{% endfor %}"
        "{{ name|indent(4) }} {{ 'hi'|wordwrap(40, wrapstring='<br>') }}"
        "{{ name ~ ' in ' ~ city }} {{ '%s/%s' % (name, city) }} {{ '{0} {0}'.format(name) }}"
    )

    assert template_check(source) is None


@pytest.mark.parametrize(
    "source",
    [
        "{{ '{1}'.format(name) }}",
        "{{ '{missing}'.format(name) }}",
        "{{ '{0[9]}'.format(name) }}",
        "{{ '%(a)s' % {} }}",
        "{{ {}['x'] }}",
        "{{ [1][5] }}",
    ],
)
def test_a_lookup_error_is_a_template_error_not_a_crash(source):
    error = template_check(source)

    assert error and error.startswith("This template cannot be rendered")


@pytest.mark.parametrize(
    "source",
    [
        "{% if 1 %}" * 500 + "x" + "{% endif %}" * 500,
        "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
        "{{ " + " + ".join(["1"] * 500) + " }}",
        "{{ " + "[" * 500 + "]" * 500 + " }}",
        "{% for a in name %}" * 70 + "{% endfor %}" * 70,
    ],
)
def test_a_template_nested_too_deeply_is_refused(source):
    assert template_check(source) == TOO_DEEP


def test_recursion_in_a_template_is_refused():
    error = template_check("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")

    assert error == TOO_DEEP


def test_a_template_too_long_is_refused():
    error = template_check("x" * (sandbox.MAX_SOURCE_CHARS + 1))

    assert error == sandbox.ERROR_TOO_LONG.format(limit=f"{sandbox.MAX_SOURCE_CHARS:,}")


def test_content_check_names_the_field_over_the_limit():
    errors = content_check(
        channel="email", subject="{{ name.center(10 ** 7) }}", body_text="ok", body_html=""
    )

    assert errors == {"subject": TOO_WIDE}


@pytest.mark.django_db
def test_the_preview_refuses_a_template_over_a_limit_without_a_large_response(
    client, campaign_manager
):
    client.force_login(campaign_manager)
    ProfileFactory(external_id="C-42", name="Ann")

    response = client.post(
        reverse("campaigns:preview"),
        {
            "channel": "email",
            "variants-0-subject": "Hi",
            "variants-0-body_text": "{% for a in 'x' * 9000 %}{{ 'y' * 9000 }}{% endfor %}",
            "preview_variant": "0",
            "preview_external_id": "C-42",
        },
    )

    assert response.status_code == 200
    assert len(response.content) < 50_000
    assert TOO_BIG in response.content.decode()


def test_a_limit_is_named_in_the_managers_language():
    with translation.override("zh-hans"):
        error = template_check("{{ name.center(5000000) }}")

    assert error == "此模板中的宽度、精度或数量超过 1,000。"
