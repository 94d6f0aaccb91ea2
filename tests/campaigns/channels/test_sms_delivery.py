"""SMS campaigns through the Aliyun and Tencent Cloud backends: the ledger records what the
fake providers answered (provider ids, retries, failures with the code, suppressions)."""

import pytest

from campaigns.delivery import campaign_send_batch
from campaigns.models import Channel, Send, Suppression
from campaigns.services.audience import campaign_start
from core.errors import error_text
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def delivery_settings(settings):
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_RATE_LIMIT_SMS = 0
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    settings.CAMPAIGN_MARK_EVERY = 2
    settings.SMS_UNSUBSCRIBE_SUFFIX = ""  # once the receipts branch adds it: the text as written


def started_sms_campaign(profiles):
    campaign = campaign_ready(include=[segment_with(profiles)], channel=Channel.SMS)
    campaign_start(campaign_id=campaign.pk)
    return campaign


def test_an_sms_campaign_goes_out_through_aliyun_with_its_bizids_in_the_ledger(aliyun):
    profiles = profiles_make(4, channel=Channel.SMS)
    throttled, refused = profiles[0], profiles[1]
    aliyun.script(str(throttled.phone), "isv.BUSINESS_LIMIT_CONTROL")
    aliyun.script(str(refused.phone), "isv.SMS_CONTENT_ILLEGAL")
    campaign = started_sms_campaign(profiles)

    result = campaign_send_batch(campaign_id=campaign.pk)

    assert (result.sent, result.failed, result.retried) == (2, 1, 1)
    rows = {row.profile_id: row for row in Send.objects.filter(campaign=campaign)}
    by_phone = {m["phone"]: m for m in aliyun.sent}
    for profile in profiles[2:]:
        row = rows[profile.pk]
        assert row.status == Send.Status.SENT
        assert row.message_id == by_phone[str(profile.phone)]["biz_id"]
        assert by_phone[str(profile.phone)]["out_id"] == f"send-{row.pk}"
        assert by_phone[str(profile.phone)]["params"]["content"].endswith(
            f"hi {profile.name} from {profile.city}"
        )
    assert rows[throttled.pk].status == Send.Status.QUEUED
    assert rows[refused.pk].status == Send.Status.FAILED
    assert "isv.SMS_CONTENT_ILLEGAL" in error_text(rows[refused.pk].error, translate=False)
    assert not Suppression.objects.exists()


def test_a_number_on_tencents_blacklist_fails_and_is_suppressed(tencent):
    profiles = profiles_make(2, channel=Channel.SMS)
    blacklisted = profiles[0]
    tencent.script(str(blacklisted.phone), "FailedOperation.PhoneNumberInBlacklist")
    campaign = started_sms_campaign(profiles)

    result = campaign_send_batch(campaign_id=campaign.pk)

    assert (result.sent, result.failed) == (1, 1)
    row = Send.objects.get(campaign=campaign, profile=blacklisted)
    assert row.status == Send.Status.FAILED
    assert "PhoneNumberInBlacklist" in error_text(row.error, translate=False)
    assert Suppression.objects.filter(channel=Channel.SMS, address=str(blacklisted.phone)).exists()
    sent = Send.objects.get(campaign=campaign, profile=profiles[1])
    assert sent.message_id == tencent.sent[0]["serial"]


def test_a_variant_naming_its_provider_template_sends_it_with_rendered_parameters(aliyun):
    profiles = profiles_make(2, channel=Channel.SMS)
    campaign = campaign_ready(include=[segment_with(profiles)], channel=Channel.SMS, weights=[1])
    campaign.variants.update(
        fields={"template_code": "SMS_200", "params": {"name": "{{ name }}", "code": "{{ city }}"}}
    )
    campaign_start(campaign_id=campaign.pk)

    result = campaign_send_batch(campaign_id=campaign.pk)

    assert result.sent == 2
    by_phone = {m["phone"]: m for m in aliyun.sent}
    for profile in profiles:
        message = by_phone[str(profile.phone)]
        assert message["template"] == "SMS_200"
        assert message["params"] == {"name": profile.name, "code": profile.city}


def test_template_parameters_are_checked_like_any_template():
    from campaigns.services.channel_content import variant_errors

    errors = variant_errors(
        channel="sms",
        values={"body_text": "hi", "fields": {"template_code": "SMS_1", "params": {"a": "{{ x"}}},
    )
    assert list(errors) == ["fields.params.a"]
    assert variant_errors(channel="sms", values={"body_text": "hi", "fields": {"size": 1}}) == {
        "fields.fields": "This channel has no part named size."
    }


def test_an_sms_naming_its_links_gets_them_signed_and_one_without_pays_for_none(aliyun):
    from campaigns.delivery.render import Links
    from campaigns.models import ShortLink

    profiles = profiles_make(2, channel=Channel.SMS)
    campaign = campaign_ready(include=[segment_with(profiles)], channel=Channel.SMS, weights=[1])
    campaign.variants.update(body_text="hi {{ name }}, 退订 {{ unsubscribe_url }}")
    campaign_start(campaign_id=campaign.pk)
    signed = []
    original = Links.__call__

    def counting(self, profile_id):
        signed.append(profile_id)
        return original(self, profile_id)

    Links.__call__ = counting
    try:
        assert campaign_send_batch(campaign_id=campaign.pk).sent == 2
        texts = [m["params"]["content"] for m in aliyun.sent]
        assert all("/s/" in text for text in texts), texts  # its links go out shortened
        targets = ShortLink.objects.filter(campaign=campaign).values_list("url", flat=True)
        assert len(targets) == 2 and all("/c/unsubscribe/" in url for url in targets)
        assert sorted(signed) == sorted(p.pk for p in profiles)

        other = campaign_ready(
            include=[segment_with(profiles)], channel=Channel.SMS, weights=[1], slug="plain"
        )
        campaign_start(campaign_id=other.pk)
        signed.clear()
        assert campaign_send_batch(campaign_id=other.pk).sent == 2
        assert signed == []  # no template of it names a link: nothing signed
    finally:
        Links.__call__ = original
