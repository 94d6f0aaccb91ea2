"""The webhook step posts a signed body, retries with backoff, and records each answer."""

import datetime
import hmac
import json
import threading
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.conf import settings

from campaigns.webhooks import ERROR_TIMEOUT
from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment, StepRun
from flows.webhooks import webhook_call
from tests.factories import ProfileFactory
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)


class Receiver:
    """A local HTTP server that answers with the given statuses in turn, keeping each request."""

    def __init__(self, statuses: list[int], delay: float = 0.0):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                if delay:
                    threading.Event().wait(delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses, delay=0.0):
        made.append(Receiver(statuses, delay))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _webhook_flow(url: str, **step):
    return live_flow(
        [
            {"key": "hook", "kind": "webhook", "url": url, "retries": 2, **step},
            {"key": "x", "kind": "exit"},
        ]
    )


def test_a_webhook_that_fails_then_succeeds_is_retried_and_the_flow_goes_on(receiver_factory):
    receiver = receiver_factory([500, 200])
    flow = _webhook_flow(receiver.url)
    profile = ProfileFactory(external_id="c-1")

    with time_machine.travel(NOW, tick=False):
        flow_enroll(flow=flow, profile_ids=[profile.pk])
        enrollments_advance()  # eager: the call is made on commit, answers 500
    enrollment = Enrollment.objects.get()
    run = StepRun.objects.get(step_key="hook")
    assert run.status == StepRun.Status.PENDING
    assert run.attempts == 1
    assert run.detail["status"] == 500
    assert enrollment.wake_at == NOW + datetime.timedelta(seconds=10)

    with time_machine.travel(NOW + datetime.timedelta(seconds=11), tick=False):
        enrollments_advance()  # due again: the second call answers 200, then the exit step

    run.refresh_from_db()
    enrollment.refresh_from_db()
    assert (run.status, run.outcome, run.attempts) == (StepRun.Status.DONE, "ok", 2)
    assert enrollment.status == Enrollment.Status.COMPLETED
    assert len(receiver.requests) == 2
    headers, body = receiver.requests[0]
    timestamp, mac = headers["X-Flow-Signature"].removeprefix("t=").split(",v1=")
    expected = hmac.new(
        settings.FLOW_WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, sha256
    )
    assert mac == expected.hexdigest()
    assert headers["X-Flow-Delivery"] == f"{enrollment.pk}:hook"
    assert json.loads(body)["profile"] == {"external_id": "c-1"}


def test_a_webhook_that_keeps_failing_is_recorded_failed_and_the_flow_goes_on(receiver_factory):
    receiver = receiver_factory([500, 502, 503])
    flow = _webhook_flow(receiver.url)
    profile = ProfileFactory()

    moment = NOW
    with time_machine.travel(moment, tick=False):
        flow_enroll(flow=flow, profile_ids=[profile.pk])
        enrollments_advance()
    for _ in range(3):
        moment += datetime.timedelta(hours=1)
        with time_machine.travel(moment, tick=False):
            enrollments_advance()

    run = StepRun.objects.get(step_key="hook")
    assert (run.status, run.outcome, run.attempts) == (StepRun.Status.FAILED, "failed", 3)
    assert Enrollment.objects.get().status == Enrollment.Status.COMPLETED
    assert len(receiver.requests) == 3


def test_a_webhook_that_hangs_times_out_and_holds_only_its_own_enrollment(receiver_factory):
    slow = receiver_factory([200], delay=3.0)
    flow = _webhook_flow(slow.url, timeout_seconds=1)
    other = live_flow([{"key": "x", "kind": "exit"}], slug="other")
    a, b = ProfileFactory(), ProfileFactory()
    flow_enroll(flow=flow, profile_ids=[a.pk])
    flow_enroll(flow=other, profile_ids=[b.pk])

    enrollments_advance()

    run = StepRun.objects.get(step_key="hook")
    assert run.status == StepRun.Status.PENDING
    assert json.loads(run.detail["error"])["code"] == ERROR_TIMEOUT.code
    assert Enrollment.objects.get(flow=other).status == Enrollment.Status.COMPLETED


def test_a_second_worker_does_not_call_a_webhook_already_being_called(receiver_factory):
    receiver = receiver_factory([200])
    flow = _webhook_flow(receiver.url)
    profile = ProfileFactory()
    flow_enroll(flow=flow, profile_ids=[profile.pk])
    enrollments_advance()  # the eager call succeeds
    enrollment = Enrollment.objects.get()

    again = webhook_call(enrollment_id=enrollment.pk, step_key="hook")

    assert again == "skipped"
    assert len(receiver.requests) == 1
