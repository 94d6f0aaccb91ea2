"""Traits in templates are checked against the traits profiles have, not against any name."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.services.content import ERROR_UNKNOWN_TRAIT, content_check, template_check
from campaigns.services.traits import WARNING_TRAIT_MISSING, content_warnings
from tests.campaigns.campaign_builders import campaign_make
from tests.campaigns.delivery_builders import segment_with
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def test_a_trait_no_profile_has_is_refused_with_the_fallback_to_write():
    ProfileFactory(traits={"size": 38})

    error = template_check("Your level: {{ traits.level }}")

    assert error == ERROR_UNKNOWN_TRAIT.format(name="level")
    assert "default" in error


def test_a_trait_some_profile_has_is_accepted_and_rendered_with_a_real_value():
    ProfileFactory(traits={"size": 38})

    assert template_check("{{ traits.size + 1 }} {{ traits['size'] }}") is None


def test_a_trait_with_a_fallback_or_a_test_is_accepted_even_when_no_profile_has_it():
    assert template_check("{{ traits.level | default('new') }}") is None
    assert template_check("{{ traits.level|d('') }}") is None
    assert template_check("{% if traits.level is defined %}{{ traits.level }}{% endif %}") is None


def test_content_check_names_the_field_with_the_unknown_trait():
    errors = content_check(
        channel="email", subject="Hi", body_text="ok", body_html="<p>{{ traits.vip }}</p>"
    )

    assert errors == {"body_html": ERROR_UNKNOWN_TRAIT.format(name="vip")}


def _campaign_for(profiles, body: str):
    campaign = campaign_make(segment=False)
    campaign.include_segments.set([segment_with(profiles)])
    campaign.variants.update(body_text=body)
    return campaign


def test_the_share_of_the_audience_lacking_a_trait_is_a_warning():
    with_level = ProfileFactory.create_batch(3, traits={"level": "gold"})
    without = ProfileFactory.create_batch(1, traits={})
    campaign = _campaign_for(with_level + without, "{{ traits.level }} {{ traits.x|default('') }}")

    warnings = content_warnings(campaign=campaign)

    assert warnings == [WARNING_TRAIT_MISSING.format(name="level", percent="25%", count=1, total=4)]


def test_no_warning_when_every_member_has_the_trait():
    profiles = ProfileFactory.create_batch(2, traits={"level": "gold"})

    assert content_warnings(campaign=_campaign_for(profiles, "{{ traits.level }}")) == []


def test_the_editor_and_the_api_show_the_warnings(client, campaign_manager):
    profiles = [ProfileFactory(traits={"level": "gold"}), ProfileFactory(traits={})]
    campaign = _campaign_for(profiles, "{{ traits.level }}")
    expected = WARNING_TRAIT_MISSING.format(name="level", percent="50%", count=1, total=2)
    client.force_login(campaign_manager)
    api = APIClient()
    api.force_login(campaign_manager)

    detail = client.get(reverse("campaigns:detail", args=[campaign.slug])).content.decode()
    shown = api.get(f"/api/v1/campaigns/{campaign.slug}/").json()
    changed = api.patch(
        f"/api/v1/campaigns/{campaign.slug}/", {"description": "x"}, format="json"
    ).json()

    assert expected.replace("'", "&#x27;") in detail
    assert shown["warnings"] == [expected]
    assert changed["warnings"] == [expected]


def test_a_check_on_the_hot_path_leaves_traits_alone(django_assert_num_queries):
    with django_assert_num_queries(0):
        errors = content_check(
            channel="email", subject="Hi", body_text="{{ traits.vip }}", body_html="",
            check_traits=False,
        )  # fmt: skip

    assert errors == {}
