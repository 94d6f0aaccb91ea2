"""The profile list (search, filters, keyset pages) and the 360° profile page."""

import datetime

import pytest
from django.utils import timezone

from core.models import Job, JobStatus
from profiles.models import Profile, ProfileMerge
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, TagFactory

pytestmark = pytest.mark.django_db


def listed(response) -> list[str]:
    return [p.external_id for p in response.context["profiles"]]


def test_the_search_box_finds_by_id_email_phone_and_name_prefix(ops_client):
    li = ProfileFactory(external_id="c-1", name="李娜", email="li.na@example.com",
                        phone="+8613812345678")  # fmt: skip
    ProfileFactory(external_id="c-2", name="王伟", email="wang@example.com")

    assert listed(ops_client.get("/profiles/?q=c-1")) == ["c-1"]
    assert listed(ops_client.get("/profiles/?q=LI.NA@example.com")) == ["c-1"]
    assert listed(ops_client.get("/profiles/?q=138 1234 5678")) == ["c-1"]
    assert listed(ops_client.get("/profiles/?q=李")) == [li.external_id]


def test_filters_by_city_tier_and_tag(ops_client):
    vip = TagFactory(slug="vip")
    a = ProfileFactory(city="北京", value_tier="high")
    ProfileFactory(city="北京", value_tier="mass")
    ProfileFactory(city="上海", value_tier="high")
    ProfileTagFactory(profile=a, tag=vip)

    assert listed(ops_client.get("/profiles/?city=北京&tier=high")) == [a.external_id]
    assert listed(ops_client.get("/profiles/?tag=vip")) == [a.external_id]


def test_pages_follow_each_other_by_keyset_without_gaps(ops_client):
    made = [p.external_id for p in ProfileFactory.create_batch(120)]

    first = ops_client.get("/profiles/")
    second = ops_client.get(f"/profiles/?after={first.context['next_cursor']}")
    third = ops_client.get(f"/profiles/?after={second.context['next_cursor']}")

    seen = listed(first) + listed(second) + listed(third)
    assert seen == list(reversed(made))
    assert third.context["next_cursor"] is None


def test_a_bad_cursor_is_ignored_not_an_error(ops_client):
    response = ops_client.get("/profiles/?after=abc")

    assert response.status_code == 200


def test_the_profile_page_shows_attributes_tags_features_events_and_activity_chart(ops_client):
    profile = ProfileFactory(name="李娜", traits={"membership": "gold"}, frequency=3,
                             value_tier="high")  # fmt: skip
    ProfileTagFactory(profile=profile, tag=TagFactory(slug="coupon-lover", label="爱用券"),
                      provenance="import")  # fmt: skip
    EventFactory(profile=profile, name="purchase", channel="store",
                 occurred_at=timezone.now() - datetime.timedelta(days=3))  # fmt: skip

    page = ops_client.get(f"/profiles/{profile.external_id}/").content.decode()

    assert "李娜" in page
    assert "gold" in page
    assert "爱用券" in page
    assert "导入" in page or "Import" in page
    assert "purchase" in page
    assert 'class="plotly-graph-div"' in page


def test_an_unknown_profile_is_not_found(ops_client):
    assert ops_client.get("/profiles/nobody/").status_code == 404


def test_ops_staff_merge_a_duplicate_from_the_profile_page(ops_client):
    kept = ProfileFactory(external_id="keep")
    duplicate = ProfileFactory(external_id="dupe")
    EventFactory(profile=duplicate)

    response = ops_client.post(
        "/profiles/keep/merge/", {"source": "dupe", "confirm": "on"}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/profiles/keep/"
    assert kept.events.count() == 1
    assert not Profile.objects.filter(external_id="dupe").exists()
    assert "dupe" in response.content.decode()


def test_merging_an_unknown_or_the_same_profile_changes_nothing(ops_client):
    ProfileFactory(external_id="keep")

    ops_client.post("/profiles/keep/merge/", {"source": "ghost", "confirm": "on"})
    ops_client.post("/profiles/keep/merge/", {"source": "keep", "confirm": "on"})

    assert list(Profile.objects.values_list("external_id", flat=True)) == ["keep"]
    assert not ProfileMerge.objects.exists()


def test_only_ops_staff_merge(client, campaign_manager):
    ProfileFactory(external_id="keep")
    ProfileFactory(external_id="dupe")
    client.force_login(campaign_manager)

    response = client.post("/profiles/keep/merge/", {"source": "dupe", "confirm": "on"})

    assert response.status_code == 403
    assert Profile.objects.count() == 2


def test_the_rfm_refresh_button_runs_the_refresh_as_a_job(
    ops_client, django_capture_on_commit_callbacks
):
    profile = ProfileFactory()
    EventFactory(profile=profile, name="purchase", amount=50, channel="store")

    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post("/profiles/features/refresh/")

    job = Job.objects.get(kind="profiles.features")
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.DONE
    profile.refresh_from_db()
    assert profile.frequency == 1
    assert profile.last_seen_at is not None
