"""Posting signed webhooks: the signature a receiver checks, what each answer means, the log."""

import datetime
import json
import time

import pytest
import time_machine

from campaigns.models import WebhookDelivery
from campaigns.services.webhooks import (
    webhook_deliveries_purge,
    webhook_endpoint_create,
    webhook_endpoint_update,
)
from campaigns.webhooks import (
    ERROR_GONE,
    ERROR_STATUS,
    ERROR_TIMEOUT,
    WebhookClient,
    deliveries_log,
    delivery_row,
    endpoint_client,
)
from core.webhooks import timed_signature, timed_signature_valid
from profiles.services.retention import personal_data_retention_apply
from tests.campaigns.webhook_receiver import HANG

SECRET = "s3cret-for-tests"


def _code(stored: str) -> str:
    return json.loads(stored)["code"]


def test_the_signature_is_hmac_sha256_of_the_timestamp_dot_body():
    body = b'{"a": 1}'

    header = timed_signature(body, 1700000000, "key")

    # printf '1700000000.{"a": 1}' | openssl dgst -sha256 -hmac key
    assert header == (
        "t=1700000000,v1=17e36a190ee125a4782d21867ffdf5712238dc71b452ba98254537bfdb4f3a77"
    )


def test_a_receiver_verifies_the_signature_and_refuses_a_changed_body_or_old_time(settings):
    body = b'{"id": "c-1"}'
    now = int(time.time())

    fresh = timed_signature(body, now, SECRET)
    old = timed_signature(body, now - settings.WEBHOOK_MAX_AGE_SECONDS - 5, SECRET)

    assert timed_signature_valid(fresh, body, SECRET)
    assert not timed_signature_valid(fresh, b'{"id": "c-2"}', SECRET)
    assert not timed_signature_valid(fresh, body, "another secret")
    assert not timed_signature_valid(old, body, SECRET)


def test_a_2xx_answer_is_sent_with_signed_headers_and_the_answer_kept(webhook_receiver):
    receiver = webhook_receiver(SECRET)
    client = WebhookClient(url=receiver.url, secret=SECRET, timeout=2)

    answer = client.post(b'{"id": "c-1"}', delivery_id="campaign:7", attempt=1)
    client.close()

    assert (answer.ok, answer.status, answer.error, answer.permanent) == (True, 200, "", False)
    assert answer.excerpt == '{"ok": true}'
    (request,) = receiver.requests
    assert request.signed
    assert request.headers["X-Webhook-Delivery"] == "campaign:7"
    assert request.headers["X-Webhook-Attempt"] == "1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {"id": "c-1"}


@pytest.mark.parametrize(
    ("status", "permanent", "code"),
    [
        (500, False, ERROR_STATUS.code),
        (503, False, ERROR_STATUS.code),
        (429, False, ERROR_STATUS.code),
        (408, False, ERROR_STATUS.code),
        (410, True, ERROR_GONE.code),
        (400, True, ERROR_STATUS.code),
        (404, True, ERROR_STATUS.code),
    ],
)
def test_what_an_answer_means(webhook_receiver, status, permanent, code):
    receiver = webhook_receiver(SECRET, script=[status])
    client = WebhookClient(url=receiver.url, secret=SECRET, timeout=2)

    answer = client.post(b"{}", delivery_id="campaign:1")
    client.close()

    assert answer.status == status
    assert not answer.ok
    assert answer.permanent is permanent
    assert _code(answer.error) == code
    assert json.loads(answer.error)["params"].get("status", 410) == status


def test_a_receiver_that_does_not_answer_in_time_is_a_transient_timeout(webhook_receiver):
    receiver = webhook_receiver(SECRET, script=[HANG])
    client = WebhookClient(url=receiver.url, secret=SECRET, timeout=0.5)

    answer = client.post(b"{}", delivery_id="campaign:1")
    client.close()

    assert answer.status is None
    assert not answer.permanent
    assert _code(answer.error) == ERROR_TIMEOUT.code
    assert 400 <= answer.duration_ms < 3000


def test_a_receiver_that_is_not_there_is_a_transient_error():
    client = WebhookClient(url="http://127.0.0.1:9/nothing", secret=SECRET, timeout=1)

    answer = client.post(b"{}", delivery_id="campaign:1")

    assert answer.status is None
    assert not answer.permanent
    assert _code(answer.error) == "webhook.unreachable"


def test_one_client_posts_many_messages_and_comes_back_after_a_failure(webhook_receiver):
    receiver = webhook_receiver(SECRET, script=[200, HANG, 200])
    client = WebhookClient(url=receiver.url, secret=SECRET, timeout=0.5)

    answers = [client.post(b"{}", delivery_id=f"campaign:{n}") for n in range(3)]
    client.close()

    assert [a.status for a in answers] == [200, None, 200]
    assert len(receiver.requests) == 3


def test_a_replayed_delivery_id_is_what_a_receiver_detects(webhook_receiver):
    receiver = webhook_receiver(SECRET, script=[500, 200, 200])
    client = WebhookClient(url=receiver.url, secret=SECRET, timeout=2)

    for attempt in (1, 2, 3):  # failed, handled, then the same message once more
        client.post(b"{}", delivery_id="campaign:42", attempt=attempt)
    client.close()

    assert [r.replay for r in receiver.requests] == [False, False, True]
    assert {r.delivery for r in receiver.requests} == {"campaign:42"}


@pytest.mark.django_db
def test_an_endpoint_is_created_with_its_own_secret_and_a_slug(campaign_manager):
    endpoint = webhook_endpoint_create(
        name="CRM 入站",
        url="https://crm.example.com/in",
        consent_channel="email",
        created_by=campaign_manager,
    )
    other = webhook_endpoint_create(
        name="CRM 入站", url="https://crm.example.com/in", consent_channel="sms"
    )

    assert len(endpoint.secret) >= 40
    assert endpoint.secret != other.secret
    assert endpoint.slug != other.slug
    assert endpoint.active
    assert endpoint.created_by == campaign_manager


@pytest.mark.django_db
def test_an_endpoint_refuses_an_address_that_is_not_a_url():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        webhook_endpoint_create(name="x", url="ftp://nope", consent_channel="email")

    assert "url" in error.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_the_endpoint_client_signs_with_the_endpoint_secret(webhook_receiver):
    endpoint = webhook_endpoint_create(name="CRM", url="http://x.invalid/", consent_channel="email")
    receiver = webhook_receiver(endpoint.secret)
    webhook_endpoint_update(endpoint=endpoint, url=receiver.url)

    answer = endpoint_client(endpoint).post(b"{}", delivery_id="campaign:1")

    assert answer.ok
    assert receiver.requests[0].signed


@pytest.mark.django_db
def test_the_delivery_log_keeps_webhook_log_days(settings):
    settings.WEBHOOK_LOG_DAYS = 30
    endpoint = webhook_endpoint_create(name="CRM", url="http://x.invalid/", consent_channel="email")
    now = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)
    for days in (40, 31, 29, 1):
        with time_machine.travel(now - datetime.timedelta(days=days), tick=False):
            answer = WebhookClient(url="http://x.invalid/", secret="", timeout=1)._answer(
                200, "", time.monotonic()
            )
            deliveries_log(
                [
                    delivery_row(
                        endpoint_id=endpoint.pk,
                        answer=answer,
                        delivery_id=f"campaign:{days}",
                        attempt=1,
                        source=WebhookDelivery.Source.CAMPAIGN,
                    )
                ]
            )

    deleted = webhook_deliveries_purge(now=now)

    assert deleted == 2
    kept = set(WebhookDelivery.objects.values_list("delivery_id", flat=True))
    assert kept == {"campaign:29", "campaign:1"}


@pytest.mark.django_db
def test_the_personal_data_retention_deletes_old_delivery_log_rows(settings):
    settings.PERSONAL_DATA_RETENTION_MONTHS = 1
    endpoint = webhook_endpoint_create(name="CRM", url="http://x.invalid/", consent_channel="email")
    now = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)
    old = WebhookDelivery.objects.create(
        endpoint=endpoint,
        source="campaign",
        delivery_id="campaign:1",
        created_at=now - datetime.timedelta(days=45),
    )
    recent = WebhookDelivery.objects.create(
        endpoint=endpoint,
        source="campaign",
        delivery_id="campaign:2",
        created_at=now - datetime.timedelta(days=5),
    )

    deleted = personal_data_retention_apply(now=now)

    assert deleted["webhook_deliveries"] == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not WebhookDelivery.objects.filter(pk=old.pk).exists()
