"""The campaign composer: segments with their sizes, the review and "send now"."""

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Send
from tests.campaigns.campaign_builders import campaign_make
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with
from tests.campaigns.test_pages import _editor_post

pytestmark = pytest.mark.django_db


def test_the_audience_step_lists_each_segment_with_its_size(client, campaign_manager):
    client.force_login(campaign_manager)
    segment = segment_with(profiles_make(3), slug="vip")
    segment.size = 1234
    segment.save()

    html = client.get(reverse("campaigns:create")).content.decode()

    assert 'data-testid="segment-size-vip">1,234</td>' in html
    for step in ("audience", "content", "guards"):
        assert f'data-step="{step}"' in html


def test_the_audience_size_counts_the_ticked_segments_less_those_left_out(client, campaign_manager):
    client.force_login(campaign_manager)
    buyers = profiles_make(5)
    both = segment_with(buyers, slug="buyers")
    left_out = segment_with(buyers[:2], slug="left-out")

    response = client.post(
        reverse("campaigns:audience-size"),
        {"include_segments": [both.pk], "exclude_segments": [left_out.pk]},
    )

    assert 'data-members="3"' in response.content.decode()


def test_save_and_review_opens_the_review_with_the_reachable_audience(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(reverse("campaigns:create"), _editor_post(then="review"))

    campaign = Campaign.objects.get()
    assert response["Location"] == reverse("campaigns:review", args=[campaign.slug])
    review = client.get(response["Location"]).content.decode()
    assert reverse("campaigns:reach", args=[campaign.slug]) in review
    assert 'data-testid="send-now"' in review


def test_the_reach_fragment_shows_members_holdout_and_guards(client, ops_user, settings):
    settings.CAMPAIGN_QUIET_HOURS = None
    client.force_login(ops_user)
    campaign = campaign_ready(
        include=[segment_with(profiles_make(4) + profiles_make(2, consent=False))],
        status="draft",
        send_at=None,
    )

    html = client.get(reverse("campaigns:reach", args=[campaign.slug])).content.decode()

    assert 'data-testid="reach-members">6</td>' in html
    assert 'data-testid="reach-no_consent">2</td>' in html
    assert "<strong>4</strong>" in html


def test_send_now_starts_and_sends_a_complete_draft(
    client, campaign_manager, django_capture_on_commit_callbacks, mailoutbox, settings
):
    settings.CAMPAIGN_QUIET_HOURS = None
    client.force_login(campaign_manager)
    campaign = campaign_ready(
        include=[segment_with(profiles_make(3))], status="draft", send_at=None
    )
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:send-now", args=[campaign.slug]))

    campaign.refresh_from_db()
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.slug])
    assert before <= campaign.send_at <= timezone.now()
    assert campaign.status in (Campaign.Status.SENDING, Campaign.Status.SENT)
    assert Send.objects.filter(campaign=campaign).count() == 3
    assert len(mailoutbox) == Send.objects.filter(campaign=campaign, status="sent").count() > 0


def test_send_now_refuses_an_incomplete_draft_and_says_why(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make(segment=False)

    response = client.post(reverse("campaigns:send-now", args=[campaign.slug]), follow=True)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert "Choose at least one segment to send to." in response.content.decode()


def test_ops_staff_read_the_review_but_cannot_send_and_outsiders_see_nothing(
    client, ops_user, outsider
):
    campaign = campaign_make()
    client.force_login(ops_user)

    read = client.get(reverse("campaigns:review", args=[campaign.slug]))
    sent = client.post(reverse("campaigns:send-now", args=[campaign.slug]))
    sized = client.post(reverse("campaigns:audience-size"), {})
    client.force_login(outsider)
    stranger = [
        client.get(reverse("campaigns:review", args=[campaign.slug])).status_code,
        client.get(reverse("campaigns:reach", args=[campaign.slug])).status_code,
    ]

    assert read.status_code == 200 and 'data-testid="send-now"' not in read.content.decode()
    assert (sent.status_code, sized.status_code) == (403, 403)
    assert stranger == [403, 403]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
