"""The webhook channel: each recipient is one signed JSON POST, through the ledger and its guards,
against a receiver on loopback that checks signatures and notices replays."""

import datetime
import json

import pytest
from django.utils import timezone

from campaigns.channels import channel_get
from campaigns.channels.webhook import ERROR_NOT_JSON
from campaigns.delivery import campaign_send
from campaigns.models import Campaign, Send, Variant, WebhookDelivery
from campaigns.reach import campaign_reach
from campaigns.services.audience import campaign_start
from campaigns.services.channel_content import variant_errors
from campaigns.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_endpoint_update,
)
from campaigns.webhooks import ERROR_DISABLED, ERROR_GONE, ERROR_STATUS, ERROR_TIMEOUT
from tests.campaigns.delivery_builders import consent_set, segment_with
from tests.campaigns.webhook_receiver import HANG
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

BODY = '{"id": "{{ external_id }}", "city": {{ city|tojson }}, "source": "spring"}'


@pytest.fixture(autouse=True)
def _unguarded(settings):
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0


@pytest.fixture
def endpoint_at(webhook_receiver):
    """Return a factory of (endpoint, receiver checking that endpoint's secret)."""

    def make(script=(), consent_channel="email", timeout_seconds=2):
        endpoint = webhook_endpoint_create(
            name="CRM",
            url="http://127.0.0.1:9/",
            consent_channel=consent_channel,
            timeout_seconds=timeout_seconds,
        )
        receiver = webhook_receiver(endpoint.secret, script=script)
        webhook_endpoint_update(endpoint=endpoint, url=receiver.url)
        return endpoint, receiver

    return make


def _campaign(profiles, endpoint, body=BODY) -> Campaign:
    campaign = Campaign.objects.create(
        name="Spring to CRM",
        slug="spring-crm",
        channel="webhook",
        status=Campaign.Status.SCHEDULED,
        send_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    campaign.include_segments.add(segment_with(profiles, slug="crm-readers"))
    Variant.objects.create(
        campaign=campaign, key="A", weight=100, fields={"endpoint": endpoint.slug, "body": body}
    )
    campaign_start(campaign_id=campaign.pk)
    return campaign


def _send_again(campaign) -> None:
    """Make the rows waiting for a retry due now, and send."""
    Send.objects.filter(campaign=campaign, status=Send.Status.QUEUED).update(not_before=None)
    campaign_send(campaign_id=campaign.pk)


def _code(error: str) -> str:
    return json.loads(error)["code"]


def test_each_recipient_is_one_signed_post_of_the_rendered_json(endpoint_at):
    endpoint, receiver = endpoint_at()
    profiles = [ProfileFactory(external_id=f"c-{n}", city="杭州") for n in range(3)]
    consent_set(profiles, channel="email")
    campaign = _campaign(profiles, endpoint)

    campaign_send(campaign_id=campaign.pk)

    assert len(receiver.requests) == 3
    assert all(request.signed for request in receiver.requests)
    bodies = sorted((r.json for r in receiver.requests), key=lambda body: body["id"])
    assert bodies[0] == {"id": "c-0", "city": "杭州", "source": "spring"}
    rows = Send.objects.filter(campaign=campaign)
    assert {row.status for row in rows} == {Send.Status.SENT}
    assert {row.message_id for row in rows} == {f"campaign:{row.pk}" for row in rows}
    assert {r.delivery for r in receiver.requests} == {row.message_id for row in rows}
    log = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert sorted(log.values_list("send_id", flat=True)) == sorted(row.pk for row in rows)
    assert {(row.source, row.status_code, row.attempt) for row in log} == {("campaign", 200, 1)}
    assert {row.source_label for row in log} == {"Spring to CRM"}


def test_consent_is_the_endpoints_consent_channel_and_the_address_the_external_id(endpoint_at):
    endpoint, receiver = endpoint_at(consent_channel="sms")
    texted = ProfileFactory(external_id="c-sms")
    mailed = ProfileFactory(external_id="c-mail")
    consent_set([texted], channel="sms")
    consent_set([mailed], channel="email")
    campaign = _campaign([texted, mailed], endpoint)

    reach = campaign_reach(campaign=campaign)
    campaign_send(campaign_id=campaign.pk)

    assert {reason: n for reason, n in reach.stopped.items() if n} == {
        Send.SkipReason.NO_CONSENT: 1
    }
    rows = {row.profile_id: row for row in Send.objects.filter(campaign=campaign)}
    assert rows[texted.pk].status == Send.Status.SENT
    assert rows[texted.pk].address == "c-sms"
    assert rows[mailed.pk].skip_reason == Send.SkipReason.NO_CONSENT
    assert [r.json["id"] for r in receiver.requests] == ["c-sms"]


def test_a_5xx_is_retried_with_the_same_delivery_id_and_then_sent(endpoint_at):
    endpoint, receiver = endpoint_at(script=[503])
    profile = ProfileFactory()
    consent_set([profile])
    campaign = _campaign([profile], endpoint)

    campaign_send(campaign_id=campaign.pk)
    row = Send.objects.get(campaign=campaign)
    assert (row.status, row.attempts) == (Send.Status.QUEUED, 1)
    assert row.not_before is not None and row.not_before > timezone.now()
    assert _code(row.error) == ERROR_STATUS.code

    _send_again(campaign)

    row.refresh_from_db()
    assert row.status == Send.Status.SENT
    first, second = receiver.requests
    assert first.delivery == second.delivery == f"campaign:{row.pk}"
    assert (first.headers["X-Webhook-Attempt"], second.headers["X-Webhook-Attempt"]) == ("1", "2")
    log = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("attempt")
    assert [(entry.attempt, entry.status_code) for entry in log] == [(1, 503), (2, 200)]


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (429, Send.Status.QUEUED, ERROR_STATUS.code),
        (HANG, Send.Status.QUEUED, ERROR_TIMEOUT.code),
        (410, Send.Status.FAILED, ERROR_GONE.code),
        (422, Send.Status.FAILED, ERROR_STATUS.code),
    ],
)
def test_what_the_receivers_answer_does_to_the_row(endpoint_at, answer, status, code):
    endpoint, receiver = endpoint_at(script=[answer], timeout_seconds=1)
    profile = ProfileFactory()
    consent_set([profile])
    campaign = _campaign([profile], endpoint)

    campaign_send(campaign_id=campaign.pk)

    row = Send.objects.get(campaign=campaign)
    assert row.status == status
    assert _code(row.error) == code
    if answer == 422:
        assert json.loads(row.error)["params"] == {"status": 422}
    assert len(receiver.requests) == 1


def test_a_body_that_does_not_render_to_json_fails_its_row_unposted(endpoint_at):
    endpoint, receiver = endpoint_at()
    profile = ProfileFactory(city="上海")
    consent_set([profile])
    campaign = _campaign([profile], endpoint, body='{"city": {{ city }}}')  # not quoted

    campaign_send(campaign_id=campaign.pk)

    row = Send.objects.get(campaign=campaign)
    assert row.status == Send.Status.FAILED
    stored = json.loads(row.error)
    assert stored["code"] == "send.render"
    assert ERROR_NOT_JSON.split(":")[0] in stored["params"]["error"]
    assert "上海" in stored["params"]["error"]
    assert receiver.requests == []


def test_a_disabled_endpoint_fails_the_rows_with_the_reason_unposted(endpoint_at):
    endpoint, receiver = endpoint_at()
    profile = ProfileFactory()
    consent_set([profile])
    campaign = _campaign([profile], endpoint)
    webhook_endpoint_disable(endpoint=endpoint)

    campaign_send(campaign_id=campaign.pk)

    row = Send.objects.get(campaign=campaign)
    assert row.status == Send.Status.FAILED
    assert _code(row.error) == ERROR_DISABLED.code
    assert receiver.requests == []


def test_a_message_sent_again_after_a_lost_worker_is_a_replay_the_receiver_detects(endpoint_at):
    endpoint, receiver = endpoint_at()
    profile = ProfileFactory()
    consent_set([profile])
    campaign = _campaign([profile], endpoint)
    campaign_send(campaign_id=campaign.pk)
    # the worker died after the POST, before the row was marked sent: the sweep requeues it
    Send.objects.filter(campaign=campaign).update(status=Send.Status.QUEUED, sent_at=None)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)

    campaign_send(campaign_id=campaign.pk)

    first, again = receiver.requests
    assert first.delivery == again.delivery
    assert (first.replay, again.replay) == (False, True)


def test_a_variant_needs_an_endpoint_and_a_body_and_its_templates_are_checked():
    errors = variant_errors(channel="webhook", values={"fields": {}})
    bad = variant_errors(
        channel="webhook", values={"fields": {"endpoint": "crm", "body": '{"x": "{{ nosuch }}"}'}}
    )

    assert set(errors) == {"fields.endpoint", "fields.body"}
    assert list(bad) == ["fields.body"] and "nosuch" in bad["fields.body"]
    assert channel_get("webhook").address("  c-1 ") == "c-1"


def test_saving_a_variant_checks_its_endpoint_exists_and_its_body_renders_to_json(endpoint_at):
    endpoint, _receiver = endpoint_at()

    unknown = variant_errors(
        channel="webhook", values={"fields": {"endpoint": "nope", "body": '{"a": 1}'}}
    )
    not_json = variant_errors(
        channel="webhook",
        values={"fields": {"endpoint": endpoint.slug, "body": '{"name": {{ name }}}'}},
    )
    fine = variant_errors(
        channel="webhook",
        values={"fields": {"endpoint": endpoint.slug, "body": '{"name": {{ name|tojson }}}'}},
    )

    assert list(unknown) == ["fields.endpoint"] and "nope" in unknown["fields.endpoint"]
    assert list(not_json) == ["fields.body"]
    assert "not valid JSON" in not_json["fields.body"]
    assert fine == {}
