"""Campaign pages: who may read and who may change, the editor, schedule dialog and progress."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Send
from tests.campaigns.campaign_builders import campaign_make, segment_make
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

S = Campaign.Status


def _editor_post(**overrides):
    data = {
        "name": "Spring sale",
        "channel": "email",
        "purpose": "marketing",
        "kind": "one_off",
        "include_segments": [segment_make().pk],
        "holdout_percent": "10",
        "winner_mode": "none",
        "test_percent": "20",
        "winner_delay_hours": "24",
        "winner_metric": "clicks",
        "winner_fallback": "first",
        "variants-TOTAL_FORMS": "3",
        "variants-INITIAL_FORMS": "2",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-key": "A",
        "variants-0-weight": "50",
        "variants-0-subject": "Hi {{ name }}",
        "variants-0-body_text": "Hello {{ city }}",
        "variants-1-key": "B",
        "variants-1-weight": "50",
        "variants-1-subject": "Hello {{ name }}",
        "variants-1-body_text": "Dear {{ name }}",
        "variants-2-weight": "50",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("persona", ["ops_user", "consent_admin", "campaign_manager"])
def test_staff_can_read_the_list_detail_progress_and_report(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    campaign = campaign_make()

    pages = [
        reverse("campaigns:list"),
        reverse("campaigns:detail", args=[campaign.slug]),
        reverse("campaigns:progress", args=[campaign.slug]),
        reverse("campaigns:report", args=[campaign.slug]),
    ]

    assert [client.get(page).status_code for page in pages] == [200, 200, 200, 200]


def test_an_outsider_cannot_read_campaigns(client, outsider):
    client.force_login(outsider)

    assert client.get(reverse("campaigns:list")).status_code == 403


def test_ops_staff_cannot_create_schedule_or_cancel(client, ops_user):
    client.force_login(ops_user)
    campaign = campaign_make()
    send_at = (timezone.now() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    codes = [
        client.get(reverse("campaigns:create")).status_code,
        client.post(reverse("campaigns:create"), _editor_post()).status_code,
        client.get(reverse("campaigns:edit", args=[campaign.slug])).status_code,
        client.post(
            reverse("campaigns:schedule", args=[campaign.slug]),
            {"send_at": send_at, "time_zone": "Asia/Shanghai"},
        ).status_code,
        client.post(reverse("campaigns:cancel", args=[campaign.slug])).status_code,
        client.post(reverse("campaigns:pause", args=[campaign.slug])).status_code,
        client.post(
            reverse("campaigns:test-send", args=[campaign.slug]), {"variant": "A", "to": "a@b.cn"}
        ).status_code,
    ]

    assert codes == [403] * 7
    assert Campaign.objects.get().status == S.DRAFT


def test_the_list_shows_no_new_button_to_ops(ops_client):
    response = ops_client.get(reverse("campaigns:list"))

    assert reverse("campaigns:create") not in response.content.decode()


def test_a_manager_creates_a_campaign_in_the_editor(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(reverse("campaigns:create"), _editor_post())

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.slug])
    assert campaign.holdout_percent == 10
    assert list(campaign.variants.values_list("key", "subject")) == [
        ("A", "Hi {{ name }}"),
        ("B", "Hello {{ name }}"),
    ]


def test_the_editor_shows_an_unknown_variable_on_its_field(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(
        reverse("campaigns:create"), _editor_post(**{"variants-1-body_text": "{{ nick }}"})
    )

    assert response.status_code == 400
    assert "Unknown variable: nick" in response.content.decode()
    assert not Campaign.objects.exists()


def test_the_editor_refuses_a_holdout_above_half(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(reverse("campaigns:create"), _editor_post(holdout_percent="60"))

    assert response.status_code == 400


def test_a_manager_edits_a_draft(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make()

    response = client.post(
        reverse("campaigns:edit", args=[campaign.slug]), _editor_post(name="Renamed")
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"


def test_a_sending_campaign_cannot_be_edited(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make(status=S.SENDING)

    response = client.get(reverse("campaigns:edit", args=[campaign.slug]), follow=True)

    assert "can be edited" in response.content.decode()


def test_the_schedule_dialog_converts_the_local_time_to_utc(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make()
    local = (timezone.now() + datetime.timedelta(days=2)).replace(second=0, microsecond=0)
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    text = local.astimezone(shanghai).strftime("%Y-%m-%dT%H:%M")

    response = client.post(
        reverse("campaigns:schedule", args=[campaign.slug]),
        {"send_at": text, "time_zone": "Asia/Shanghai"},
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == S.SCHEDULED
    assert campaign.send_at == local


def test_the_schedule_dialog_refuses_a_past_time(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make()

    response = client.post(
        reverse("campaigns:schedule", args=[campaign.slug]),
        {"send_at": "2020-01-01T09:00", "time_zone": "UTC"},
    )

    assert response.status_code == 400
    assert "must be in the future" in response.content.decode()


def test_a_manager_pauses_resumes_and_cancels(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make(status=S.SENDING)
    Send.objects.create(campaign=campaign, profile=ProfileFactory())

    seen = []
    for action in ("pause", "resume", "cancel"):
        client.post(reverse(f"campaigns:{action}", args=[campaign.slug]))
        campaign.refresh_from_db()
        seen.append(campaign.status)

    assert seen == [S.PAUSED, S.SENDING, S.CANCELLED]
    assert campaign.sends.get().skip_reason == Send.SkipReason.CANCELLED


def test_an_invalid_transition_shows_a_message(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make()

    response = client.post(reverse("campaigns:resume", args=[campaign.slug]), follow=True)

    assert "A draft campaign cannot be resumed." in response.content.decode()


def test_the_progress_fragment_counts_by_status_and_polls_while_sending(ops_client):
    campaign = campaign_make(status=S.SENDING)
    for status in ["sent", "sent", "failed", "skipped", "holdout", "queued"]:
        Send.objects.create(campaign=campaign, profile=ProfileFactory(), status=status)

    response = ops_client.get(reverse("campaigns:progress", args=[campaign.slug]))

    html = response.content.decode()
    assert 'data-percent="83"' in html
    assert 'hx-trigger="every 2s"' in html
    assert response.context["progress"]["counts"]["sent"] == 2


def test_the_progress_fragment_stops_polling_when_sent(ops_client):
    campaign = campaign_make(status=S.SENT)

    response = ops_client.get(reverse("campaigns:progress", args=[campaign.slug]))

    assert "hx-trigger" not in response.content.decode()
    assert 'data-percent="100"' in response.content.decode()


def test_the_report_lists_skip_reasons_and_failures(ops_client):
    campaign = campaign_make(status=S.SENT)
    variant = campaign.variants.get(key="A")
    for _n in range(3):
        Send.objects.create(
            campaign=campaign, profile=ProfileFactory(), status="skipped", skip_reason="no_consent"
        )
    Send.objects.create(
        campaign=campaign,
        profile=ProfileFactory(),
        variant=variant,
        status="failed",
        error="550 mailbox unavailable",
    )
    Send.objects.create(
        campaign=campaign,
        profile=ProfileFactory(),
        variant=variant,
        status="sent",
        sent_at=timezone.now(),
    )

    response = ops_client.get(reverse("campaigns:report", args=[campaign.slug]))

    html = response.content.decode()
    assert "3 skipped: No consent" in html
    assert "550 mailbox unavailable" in html
    assert "plotly" in html


def test_the_sms_length_fragment_counts_parts(ops_client, settings):
    settings.SMS_SIGN_NAME = ""
    settings.SMS_UNSUBSCRIBE_SUFFIX = "回T退订"
    response = ops_client.post(
        reverse("campaigns:sms-length"), {"variants-0-body_text": "你好" * 40}
    )

    assert "84 characters, 2 parts" in response.content.decode()
    assert "“回T退订” added" in response.content.decode()


def test_the_sms_length_counts_the_signature_and_no_suffix_for_another_purpose(
    ops_client, settings
):
    settings.SMS_SIGN_NAME = "小店"
    response = ops_client.post(
        reverse("campaigns:sms-length"),
        {"variants-0-body_text": "好" * 66, "purpose": "service"},
    )

    html = response.content.decode()
    assert "70 characters, 1 part" in html
    assert "signature 【小店】 counted" in html
    assert "added" not in html


def test_the_sms_preview_shows_the_text_as_sent_with_its_parts(client, campaign_manager, settings):
    settings.SMS_SIGN_NAME = "小店"
    settings.SITE_URL = "https://go.example"
    client.force_login(campaign_manager)
    text = "新品 https://shop.example/a-very-long-path/with/many/segments?utm_source=sms"

    response = client.post(
        reverse("campaigns:preview"),
        {"channel": "sms", "purpose": "marketing", "variants-0-body_text": text},
    )

    html = response.content.decode()
    assert "【小店】新品 https://go.example/s/" in html
    assert "shop.example" not in html
    assert "回T退订</pre>" in html
    assert "1 part" in html


def test_the_preview_renders_for_a_chosen_profile(client, campaign_manager):
    client.force_login(campaign_manager)
    ProfileFactory(external_id="C-42", name="Ann", city="上海")

    response = client.post(
        reverse("campaigns:preview"),
        _editor_post(preview_variant="1", preview_external_id="C-42"),
    )

    html = response.content.decode()
    assert "Hello Ann" in html
    assert "Dear Ann" in html


def test_the_preview_shows_template_errors(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(
        reverse("campaigns:preview"),
        _editor_post(**{"variants-0-body_text": "{{ settings.SECRET_KEY }}"}),
    )

    assert "Unknown variable: settings" in response.content.decode()


def test_a_manager_sends_a_test_email(client, campaign_manager, mailoutbox):
    client.force_login(campaign_manager)
    campaign = campaign_make()

    client.post(
        reverse("campaigns:test-send", args=[campaign.slug]),
        {"variant": "A", "to": "me@example.com"},
    )

    assert [m.to for m in mailoutbox] == [["me@example.com"]]


def test_the_html_preview_is_framed_from_its_own_address_under_a_policy_running_no_script(
    client, campaign_manager, outsider
):
    client.force_login(campaign_manager)
    body = '<p style="color:red">Hi {{ name }}</p><img src="https://cdn.example.com/x.png">'

    fragment = client.post(
        reverse("campaigns:preview"), _editor_post(**{"variants-0-body_html": body})
    )
    src = re.search(r'<iframe[^>]* src="([^"]+)"', fragment.content.decode()).group(1)
    framed = client.get(src)
    client.force_login(outsider)
    stranger = client.get(src)

    assert 'sandbox=""' in fragment.content.decode() and "srcdoc" not in fragment.content.decode()
    assert framed.status_code == 200
    assert '<p style="color:red">Hi' in framed.content.decode()
    policy = framed["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "style-src 'unsafe-inline'" in policy and "img-src * data:" in policy
    assert framed["X-Frame-Options"] == "SAMEORIGIN"
    assert stranger.status_code in (403, 404)
