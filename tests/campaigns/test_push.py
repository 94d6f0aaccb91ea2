"""The push channel end to end: a campaign sent through the ledger to fake FCM and JPush servers."""

import datetime
import json

import pytest
import time_machine
from django.utils import timezone

from campaigns.channels import channel_get
from campaigns.delivery import campaign_send
from campaigns.models import Campaign, Send, Suppression, Variant
from campaigns.reach import campaign_reach
from campaigns.services.audience import campaign_start
from campaigns.services.channel_content import fields_check
from profiles.models import ConsentChannel, ConsentRecord, Device
from profiles.services.consent import consent_states_refresh
from profiles.services.devices import DeviceEntry, device_register
from tests.campaigns.delivery_builders import consent_set, segment_with
from tests.factories import ProfileFactory
from tests.fakes.fcm import FakeFcm
from tests.fakes.jpush import APP_KEY, MASTER_SECRET, FakeJPush

pytestmark = pytest.mark.django_db


@pytest.fixture
def providers(settings, tmp_path):
    """Fake FCM and JPush servers, and the settings that point the push channel at them."""
    fcm, jpush = FakeFcm(), FakeJPush()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(fcm.service_account()), encoding="utf-8")
    settings.FCM_SERVICE_ACCOUNT_FILE, settings.FCM_API_URL = str(key_file), fcm.url
    settings.JPUSH_APP_KEY, settings.JPUSH_MASTER_SECRET = APP_KEY, MASTER_SECRET
    settings.JPUSH_API_URL = jpush.url
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    yield fcm, jpush
    fcm.stop()
    jpush.stop()


def push_consent_grant(profiles) -> None:
    """Grant marketing push consent. Until the consent channel "push" exists (the identifiers
    branch adds it) the records are written directly; then it is ``consent_set``."""
    if "push" in ConsentChannel.values:
        consent_set(profiles, channel="push")
        return
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            profile=profile,
            channel="push",
            purpose="marketing",
            status="granted",
            source="import",
            recorded_at=timezone.now(),
        )
        for profile in profiles
    )
    consent_states_refresh(profile_ids=[profile.pk for profile in profiles])


def with_device(provider: str, token: str, platform: str = "android", **fields):
    profile = ProfileFactory(**fields)
    device_register(
        profile=profile, entry=DeviceEntry(provider=provider, platform=platform, token=token)
    )
    return profile


def push_campaign(profiles) -> Campaign:
    campaign = Campaign.objects.create(
        name="Spring push",
        slug="spring-push",
        channel="push",
        status=Campaign.Status.SCHEDULED,
        send_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    campaign.include_segments.add(segment_with(profiles, slug="app-users"))
    Variant.objects.create(
        campaign=campaign,
        key="A",
        weight=100,
        fields={
            "title": "{{ name }}，春季上新",
            "body": "{{ city }} 门店八折",
            "link": "myshop://sale/spring?c={{ city }}",
        },
    )
    return campaign


def test_a_push_campaign_reaches_each_profiles_newest_device_and_forgets_dead_tokens(providers):
    fcm, jpush = providers
    on_fcm = with_device("fcm", "tok-a", name="李娜", city="上海")
    on_jpush = with_device("jpush", "1a0018970a8a3c5f", platform="harmony", name="王伟")
    two_phones = with_device("fcm", "tok-old", name="赵六")
    device_register(
        profile=two_phones,
        entry=DeviceEntry(provider="jpush", platform="ios", token="1a00newest"),
    )
    gone = with_device("fcm", "unregistered-1")
    busy = with_device("jpush", "busy-1")
    no_device = ProfileFactory()
    no_consent = with_device("fcm", "tok-z")
    push_consent_grant([on_fcm, on_jpush, two_phones, gone, busy, no_device])
    campaign = push_campaign([on_fcm, on_jpush, two_phones, gone, busy, no_device, no_consent])

    reach = campaign_reach(campaign=campaign)
    campaign_start(campaign_id=campaign.pk)
    campaign_send(campaign_id=campaign.pk)

    assert {reason: n for reason, n in reach.stopped.items() if n} == {
        Send.SkipReason.NO_CONSENT: 1,
        Send.SkipReason.NO_ADDRESS: 1,
    }
    assert [m["token"] for m in fcm.sent] == ["tok-a"]
    assert fcm.sent[0]["notification"] == {"title": "李娜，春季上新", "body": "上海 门店八折"}
    assert fcm.sent[0]["data"]["link"] == "myshop://sale/spring?c=上海"
    assert sorted(p["audience"]["registration_id"][0] for p in jpush.sent) == [
        "1a0018970a8a3c5f",
        "1a00newest",  # the newer of the two devices, not both
    ]
    rows = {row.profile_id: row for row in Send.objects.filter(campaign=campaign)}
    assert rows[on_fcm.pk].status == Send.Status.SENT
    assert rows[on_fcm.pk].address == "fcm:tok-a"
    assert rows[on_fcm.pk].message_id.startswith("projects/")
    assert rows[on_jpush.pk].status == Send.Status.SENT and rows[on_jpush.pk].message_id
    assert rows[gone.pk].status == Send.Status.FAILED and "UNREGISTERED" in rows[gone.pk].error
    assert not Device.objects.filter(token="unregistered-1").exists()
    assert not Suppression.objects.filter(channel="push").exists()
    assert rows[busy.pk].status == Send.Status.QUEUED and rows[busy.pk].attempts == 1
    assert rows[no_device.pk].skip_reason == Send.SkipReason.NO_ADDRESS
    assert rows[no_consent.pk].skip_reason == Send.SkipReason.NO_CONSENT
    assert fcm.exchanges == 1


def test_a_transient_push_failure_is_sent_on_the_ledgers_retry(providers):
    _fcm, jpush = providers
    busy = with_device("jpush", "busy-2")
    push_consent_grant([busy])
    campaign = push_campaign([busy])
    campaign_start(campaign_id=campaign.pk)
    campaign_send(campaign_id=campaign.pk)
    assert Send.objects.get(campaign=campaign).status == Send.Status.QUEUED

    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2)):
        campaign_send(campaign_id=campaign.pk)

    row = Send.objects.get(campaign=campaign)
    assert row.status == Send.Status.SENT
    assert row.attempts == 2
    assert jpush.seen["busy-2"] == 2 and len(jpush.sent) == 1


def test_a_push_variant_needs_a_title_and_a_text():
    spec = channel_get("push")

    errors = fields_check(spec, {"link": "myshop://x"})

    assert set(errors) == {"title", "body"}
    assert fields_check(spec, {"title": "Hi {{ name }}", "body": "Sale"}) == {}
