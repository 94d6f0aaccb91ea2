"""A webhook step that names an endpoint: signed with its secret, each attempt in its log."""

import datetime

import pytest
import time_machine

from campaigns.models import WebhookDelivery
from campaigns.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_endpoint_update,
)
from campaigns.webhooks import ERROR_DISABLED
from flows.definition import ERROR_WEBHOOK_ENDPOINT, ERROR_WEBHOOK_TARGET, FlowError
from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment, Flow, StepRun
from flows.services import flow_create, flow_go_live
from tests.factories import ProfileFactory
from tests.flows.helpers import definition, live_flow

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def endpoint_at(webhook_receiver):
    """Return a factory of (endpoint, receiver checking that endpoint's secret)."""

    def make(script=()):
        endpoint = webhook_endpoint_create(
            name="CRM", url="http://127.0.0.1:9/", consent_channel="email", timeout_seconds=2
        )
        receiver = webhook_receiver(endpoint.secret, script=script)
        webhook_endpoint_update(endpoint=endpoint, url=receiver.url)
        return endpoint, receiver

    return make


def _flow(endpoint_slug: str, **step):
    return live_flow(
        [
            {"key": "hook", "kind": "webhook", "endpoint": endpoint_slug, "retries": 3, **step},
            {"key": "x", "kind": "exit"},
        ]
    )


def test_each_attempt_is_signed_logged_and_carries_one_delivery_id(endpoint_at):
    endpoint, receiver = endpoint_at(script=[503, 429, 200])
    flow = _flow(endpoint.slug)
    profile = ProfileFactory(external_id="c-9")

    moment = NOW
    with time_machine.travel(moment, tick=False):
        flow_enroll(flow=flow, profile_ids=[profile.pk])
        enrollments_advance()
    for _ in range(2):
        moment += datetime.timedelta(minutes=5)
        with time_machine.travel(moment, tick=False):
            enrollments_advance()

    enrollment = Enrollment.objects.get()
    run = StepRun.objects.get(step_key="hook")
    assert (run.status, run.outcome, run.attempts) == (StepRun.Status.DONE, "ok", 3)
    assert enrollment.status == Enrollment.Status.COMPLETED
    assert [r.signed for r in receiver.requests] == [True, True, True]
    assert {r.delivery for r in receiver.requests} == {f"flow:{enrollment.pk}:hook"}
    assert [r.headers["X-Webhook-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    # the documented flow headers stay
    first = receiver.requests[0]
    assert first.headers["X-Flow-Delivery"] == f"{enrollment.pk}:hook"
    assert first.headers["X-Flow-Signature"] == first.headers["X-Webhook-Signature"]
    assert first.json["profile"] == {"external_id": "c-9"}
    log = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("attempt")
    assert [(row.attempt, row.status_code, row.source) for row in log] == [
        (1, 503, "flow"),
        (2, 429, "flow"),
        (3, 200, "flow"),
    ]
    assert {row.delivery_id for row in log} == {f"flow:{enrollment.pk}:hook"}
    assert log[2].response_excerpt == '{"ok": true}'


def test_a_410_gives_up_at_once_and_the_flow_goes_on(endpoint_at):
    endpoint, receiver = endpoint_at(script=[410])
    flow = _flow(endpoint.slug)
    profile = ProfileFactory()

    flow_enroll(flow=flow, profile_ids=[profile.pk])
    enrollments_advance()

    run = StepRun.objects.get(step_key="hook")
    assert (run.status, run.outcome, run.attempts) == (StepRun.Status.FAILED, "failed", 1)
    assert Enrollment.objects.get().status == Enrollment.Status.COMPLETED
    assert len(receiver.requests) == 1


def test_a_disabled_endpoint_is_not_called_and_the_step_gives_up_with_the_reason(endpoint_at):
    endpoint, receiver = endpoint_at()
    flow = _flow(endpoint.slug)
    webhook_endpoint_disable(endpoint=endpoint)
    profile = ProfileFactory()

    flow_enroll(flow=flow, profile_ids=[profile.pk])
    enrollments_advance()

    run = StepRun.objects.get(step_key="hook")
    assert (run.status, run.outcome) == (StepRun.Status.FAILED, "failed")
    assert ERROR_DISABLED.code in run.detail["error"]
    assert receiver.requests == []
    (row,) = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert row.status_code is None
    assert ERROR_DISABLED.code in row.error


def test_a_flow_cannot_go_live_with_an_endpoint_that_does_not_exist():
    flow = flow_create(
        name="A",
        slug="a",
        definition=definition([{"key": "hook", "kind": "webhook", "endpoint": "nope"}]),
    )

    with pytest.raises(FlowError) as refused:
        flow_go_live(flow=flow)

    assert refused.value.errors == [
        ("steps[0].endpoint", ERROR_WEBHOOK_ENDPOINT.format(slug="nope"))
    ]


def test_a_webhook_step_without_endpoint_or_address_is_refused():
    with pytest.raises(FlowError) as refused:
        flow_create(name="B", slug="b", definition=definition([{"key": "hook", "kind": "webhook"}]))

    assert refused.value.errors == [("steps[0].endpoint", ERROR_WEBHOOK_TARGET)]


def test_the_step_editor_offers_the_active_endpoints_and_saves_the_chosen_one(
    client, campaign_manager
):
    crm = webhook_endpoint_create(name="CRM", url="https://crm.example", consent_channel="email")
    old = webhook_endpoint_create(name="Old", url="https://old.example", consent_channel="email")
    webhook_endpoint_disable(endpoint=old)
    flow_create(name="Cart", slug="cart", definition=definition([]))
    client.force_login(campaign_manager)
    htmx = {"HTTP_HX_REQUEST": "true"}

    form = client.get("/flows/cart/steps/add/?kind=webhook", **htmx).content.decode()
    fields = {"kind": "webhook", "after": "", "parent": "", "path": ""}
    client.post(
        "/flows/cart/steps/add/",
        {**fields, "step-endpoint": crm.slug, "step-timeout_seconds": 5, "step-retries": 2},
        **htmx,
    )

    assert f'value="{crm.slug}"' in form
    assert f'value="{old.slug}"' not in form
    steps = Flow.objects.get(slug="cart").definition["steps"]
    assert steps == [
        {
            "key": "webhook-1",
            "kind": "webhook",
            "endpoint": crm.slug,
            "timeout_seconds": 5,
            "retries": 2,
        }
    ]
