"""Send steps go through the campaigns' delivery: guards, ledger per entry, exactly once."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Send
from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment, Flow, StepRun
from flows.steps import ERROR_CONTENT
from profiles.services.consent import ConsentEntry, consent_record
from tests.factories import ProfileFactory
from tests.flows.helpers import email_step, live_flow

pytestmark = pytest.mark.django_db(transaction=True)

CART_THEN_MAIL = [
    {
        "key": "w",
        "kind": "wait",
        "until_event": {"event": "purchase"},
        "timeout": {"hours": 2},
        "paths": {"event": [{"key": "x", "kind": "exit"}], "timeout": [email_step("mail")]},
    }
]


def grant_email(profile):
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel="email", purpose="marketing", status="granted",
            source="web_form",
        )
    )  # fmt: skip


@pytest.fixture
def api(ops_user):
    client = APIClient()
    client.force_authenticate(ops_user)
    return client


def _post(api, external_id, name, at):
    batch = [{"external_id": external_id, "name": name, "occurred_at": at.isoformat()}]
    response = api.post("/api/v1/events/", batch, format="json")
    assert response.status_code == 201, response.content


def test_an_event_posted_to_the_api_starts_the_flow_and_the_message_is_sent_once(api):
    flow = live_flow([email_step("mail")])
    profile = ProfileFactory(external_id="u-1", email="u1@example.com", name="Li")
    grant_email(profile)

    _post(api, "u-1", "add_to_cart", timezone.now())  # eager tasks: enroll, advance, send

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Hi Li"
    send = Send.objects.get()
    assert (send.status, send.entry) == (Send.Status.SENT, 1)
    assert flow.enrollments.get().status == Enrollment.Status.COMPLETED
    assert StepRun.objects.get(step_key="mail").detail["campaign"] == send.campaign.slug


def test_the_guards_apply_a_profile_without_consent_gets_nothing():
    flow = live_flow([email_step("mail")])
    profile = ProfileFactory(email="no@example.com")

    flow_enroll(flow=flow, profile_ids=[profile.pk])

    send = Send.objects.get()
    assert (send.status, send.skip_reason) == (Send.Status.SKIPPED, Send.SkipReason.NO_CONSENT)
    assert mail.outbox == []


def test_a_purchase_during_the_wait_takes_the_other_path_and_nothing_is_sent(api):
    live_flow(CART_THEN_MAIL)
    buyer = ProfileFactory(external_id="b", email="b@example.com")
    idle = ProfileFactory(external_id="i", email="i@example.com")
    grant_email(buyer)
    grant_email(idle)
    start = timezone.now()

    _post(api, "b", "add_to_cart", start)
    _post(api, "i", "add_to_cart", start)
    _post(api, "b", "purchase", start + datetime.timedelta(minutes=1))  # wakes b at once
    with time_machine.travel(start + datetime.timedelta(hours=2, minutes=1)):
        enrollments_advance()

    assert [m.to for m in mail.outbox] == [["i@example.com"]]
    paths = dict(
        StepRun.objects.filter(step_key="w").values_list(
            "enrollment__profile__external_id", "outcome"
        )
    )
    assert paths == {"b": "event", "i": "timeout"}


def test_a_profile_entering_again_gets_the_message_again_as_a_new_entry():
    flow = live_flow([email_step("mail")], reentry={"policy": "always"})
    profile = ProfileFactory(email="again@example.com")
    grant_email(profile)

    flow_enroll(flow=flow, profile_ids=[profile.pk])
    flow_enroll(flow=flow, profile_ids=[profile.pk])

    assert sorted(Send.objects.values_list("entry", flat=True)) == [1, 2]
    assert len(mail.outbox) == 2


def test_a_flow_whose_template_no_longer_validates_pauses_with_a_clear_message(monkeypatch):
    flow = live_flow([{"key": "w", "kind": "wait", "duration": {"hours": 1}}, email_step("mail")])
    profile = ProfileFactory(email="p@example.com")
    grant_email(profile)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        flow_enroll(flow=flow, profile_ids=[profile.pk])
    # the variable the subject uses ("name") is no longer offered to templates
    from campaigns.services import content

    monkeypatch.setattr(content, "allowed_variables", lambda: frozenset({"email"}))

    with time_machine.travel(start + datetime.timedelta(hours=2), tick=False):
        enrollments_advance()

    flow.refresh_from_db()
    assert flow.status == Flow.Status.PAUSED
    assert flow.paused_reason.startswith(str(ERROR_CONTENT).split("“")[0])
    assert "name" in flow.paused_reason
    assert Enrollment.objects.get().step_key == "mail"
    assert not Send.objects.exists()


def test_a_branch_asks_whether_the_message_of_an_earlier_step_was_opened():
    from campaigns.models import TrackingEvent
    from campaigns.tracking import tracking_record
    from profiles.models import ProfileTag
    from tests.factories import TagFactory

    TagFactory(slug="opened")
    flow = live_flow(
        [
            email_step("mail"),
            {"key": "w", "kind": "wait", "duration": {"days": 1}},
            {
                "key": "b",
                "kind": "branch",
                "rule": {"message": "opened", "step": "mail"},
                "paths": {
                    "yes": [{"key": "t", "kind": "update_profile", "add_tags": ["opened"]}],
                    "no": [{"key": "x", "kind": "exit"}],
                },
            },
        ]
    )
    reader, other = ProfileFactory(email="r@example.com"), ProfileFactory(email="o@example.com")
    grant_email(reader)
    grant_email(other)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        flow_enroll(flow=flow, profile_ids=[reader.pk, other.pk])
    tracking_record(send_id=Send.objects.get(profile=reader).pk, kind=TrackingEvent.Kind.OPEN)

    with time_machine.travel(start + datetime.timedelta(days=1, minutes=1), tick=False):
        enrollments_advance()

    outcomes = dict(
        StepRun.objects.filter(step_key="b").values_list("enrollment__profile_id", "outcome")
    )
    assert outcomes == {reader.pk: "yes", other.pk: "no"}
    assert list(ProfileTag.objects.values_list("profile_id", flat=True)) == [reader.pk]


def test_an_advance_that_queues_many_messages_refreshes_the_ledger_statistics_once(
    monkeypatch, settings
):
    from campaigns.services import audience

    settings.FLOW_BATCH_SIZE = 2
    refreshed = []

    def refresh(*, added):
        refreshed.append(added)
        return added >= 2  # done once two messages are queued

    monkeypatch.setattr(audience, "ledger_statistics_refresh", refresh)
    flow = live_flow([email_step("mail")])
    profiles = [ProfileFactory() for _ in range(5)]

    flow_enroll(flow=flow, profile_ids=[p.pk for p in profiles])  # eager: advanced at once

    assert Send.objects.count() == 5
    assert refreshed == [2]  # after the first batch of two; not again in this task
