"""Each step once and each message once, with real workers: two workers racing on the same due
enrollments, and workers SIGKILLed in the middle of an advance batch and of a send.

Real parts: the database, the broker, `celery worker` processes and an aiosmtpd server in a
subprocess (slowed down a little in the kill test, so a send is in flight). The test plays beat:
the flows' and the campaigns' ticks, and the campaigns' sweep.
"""

import os
import re
import signal
import sqlite3
import time
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Send
from config.celery import app
from flows.models import Enrollment, FlowMessage, StepRun
from profiles.models import Profile
from profiles.services.consent import ConsentEntry, consent_record_many
from tests.conftest import wait_for
from tests.flows.helpers import email_step, live_flow

pytestmark = pytest.mark.worker

MARK_EVERY = 10  # a sending worker records sent rows after this many messages
STALE_SECONDS = 10  # the campaigns' sweep re-queues rows claimed longer ago than this
TICKS = ("flows.tasks.flows_tick_task", "campaigns.tasks.campaigns_tick_task")
ADVANCED = re.compile(r"flows_advance_task\[[^\]]+\] succeeded in [\d.]+s: \{'claimed': (\d+)")


def audience(count: int) -> list[int]:
    """Profiles f0@example.com … with email consent; return their ids."""
    profiles = Profile.objects.bulk_create(
        Profile(external_id=f"F{i:05d}", email=f"f{i}@example.com", name=f"用户{i}")
        for i in range(count)
    )
    consent_record_many(
        entries=[
            ConsentEntry(
                profile_id=p.pk, channel="email", purpose="marketing", status="granted",
                source="import",
            )
            for p in profiles
        ]
    )  # fmt: skip
    return [p.pk for p in profiles]


def due_at_the_send_step(count: int):
    """A live flow [send] and ``count`` enrollments standing on its send step, due now."""
    flow = live_flow([email_step("mail")], slug="race")
    now = timezone.now()
    Enrollment.objects.bulk_create(
        Enrollment(
            flow=flow, version_id=flow.version_id, profile_id=pk, entry=1, step_key="mail",
            step_since=now, wake_at=now, entered_at=now,
        )
        for pk in audience(count)
    )  # fmt: skip
    return flow


def ready(worker) -> None:
    def started():
        """the worker to be ready for tasks"""
        return " ready." in worker.log()

    wait_for(started, timeout=120)


def beat_until(predicate, *, timeout: float = 240.0, every: float = 2.0):
    """Play beat: send the flows' and the campaigns' ticks every ``every`` s until
    ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in TICKS:
            app.send_task(task)
        step_end = time.monotonic() + every
        while time.monotonic() < step_end:
            if value := predicate():
                return value
            time.sleep(0.2)
    pytest.fail(f"gave up after {timeout:.0f}s waiting for {predicate.__doc__ or predicate}")


def in_transaction() -> bool:
    """Return whether another connection (a stopped worker's) holds a transaction open."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND xact_start IS NOT NULL"
            )
            return cursor.fetchone()[0] > 0
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")  # a writer's transaction holds the lock this needs
        probe.rollback()
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def kill_when(worker, predicate, *, timeout: float = 60.0) -> None:
    """Stop the worker (SIGSTOP) until it is caught where ``predicate`` says, then SIGKILL it."""
    deadline = time.monotonic() + timeout
    while True:
        os.killpg(worker.process.pid, signal.SIGSTOP)
        if predicate():
            worker.kill()
            return
        os.killpg(worker.process.pid, signal.SIGCONT)
        if time.monotonic() > deadline:
            pytest.fail(f"the worker was never caught {predicate.__doc__}")
        time.sleep(0.003)


def advanced_by(worker) -> int:
    """Return how many enrollments the worker's advance tasks claimed (from its log)."""
    return sum(int(claimed) for claimed in ADVANCED.findall(worker.log()))


def received(sink) -> tuple[Counter, list]:
    messages = sink.messages()
    return Counter(rcpt for message in messages for rcpt in message.rcpt_tos), messages


def test_two_workers_racing_on_the_same_due_enrollments_run_each_step_once_and_send_once(
    smtp_sink_process, campaign_worker
):
    # Given: 2,000 enrollments due at a send step; two workers taking batches of 10, each task
    # handing over to a new one after a second (so both workers keep taking advance tasks).
    count = 2000
    flow = due_at_the_send_step(count)
    campaign_id = FlowMessage.objects.get(version__flow=flow).campaign_id
    sink = smtp_sink_process()
    env = {"FLOW_BATCH_SIZE": 10, "FLOW_TIME_BUDGET_SECONDS": 1}
    workers = [campaign_worker(sink.port, **env) for _ in range(2)]
    for worker in workers:
        ready(worker)

    # When: four advance tasks go to the two workers at once.
    for _ in range(4):
        app.send_task("flows.tasks.flows_advance_task")

    def all_sent():
        """every message to be recorded sent and received"""
        sent = Send.objects.filter(campaign_id=campaign_id, status=Send.Status.SENT).count()
        return sent == count and sink.count() >= count

    wait_for(all_sent, timeout=240)
    time.sleep(1)  # a message sent twice would arrive now

    # Then: both workers advanced some of them, each enrollment ran the step once ...
    assert all(advanced_by(worker) > 0 for worker in workers), [w.log()[-2000:] for w in workers]
    assert sum(advanced_by(worker) for worker in workers) == count
    runs = StepRun.objects.filter(flow=flow, step_key="mail")
    assert runs.count() == count
    assert runs.values("enrollment_id").distinct().count() == count
    statuses = Counter(Enrollment.objects.filter(flow=flow).values_list("status", flat=True))
    assert statuses == {Enrollment.Status.COMPLETED: count}
    # ... and each profile got one message, queued once and received once.
    ledger = Counter(Send.objects.filter(campaign_id=campaign_id).values_list("status", "entry"))
    assert ledger == {(Send.Status.SENT, 1): count}
    addresses, messages = received(sink)
    assert len(messages) == count
    assert addresses == {f"f{i}@example.com": 1 for i in range(count)}


def test_workers_killed_mid_batch_and_mid_send_lose_nothing_and_resend_only_what_was_in_flight(
    smtp_sink_process, campaign_worker, capsys
):
    # Given: 3,000 enrollments due at a send step, a slightly slow SMTP server, workers taking
    # batches of 20 and recording sent rows every 10 messages.
    count = 3000
    flow = due_at_the_send_step(count)
    campaign_id = FlowMessage.objects.get(version__flow=flow).campaign_id
    sends = Send.objects.filter(campaign_id=campaign_id)
    sink = smtp_sink_process(delay=0.003)
    env = {
        "FLOW_BATCH_SIZE": 20,
        "CAMPAIGN_MARK_EVERY": MARK_EVERY,
        "CAMPAIGN_CLAIM_STALE_SECONDS": STALE_SECONDS,
    }
    first = campaign_worker(sink.port, **env)
    ready(first)

    # When: the first worker is killed with an advance batch open (its transaction caught
    # while the process is stopped) once a fifth of the enrollments have run the step ...
    app.send_task("flows.tasks.flows_advance_task")
    wait_for(lambda: StepRun.objects.filter(flow=flow).count() >= count // 5, timeout=120)

    def in_a_batch():
        """with an advance batch open"""
        return in_transaction()

    kill_when(first, in_a_batch)
    runs_at_kill = StepRun.objects.filter(flow=flow).count()
    queued_at_kill = sends.count()
    # ... the second worker advances the rest and sends, and is killed in the middle of a send
    # (rows claimed, some messages handed to the SMTP server and not yet recorded) ...
    second = campaign_worker(sink.port, **env)
    ready(second)
    beat_until(lambda: sink.count() >= count // 3)

    def in_a_send():
        """with a claimed batch of messages"""
        return sends.filter(status=Send.Status.SENDING).exists()

    kill_when(second, in_a_send)
    time.sleep(0.5)  # the last flush of the sink's file
    received_at_kill = sink.count()
    in_flight = sends.filter(status=Send.Status.SENDING).count()
    # ... and a third worker starts; the sweep gives back the rows the dead one claimed once
    # they are stale, and the ticks advance and send what is left.
    third = campaign_worker(sink.port, **env)
    ready(third)
    time.sleep(STALE_SECONDS + 1)
    app.send_task("campaigns.tasks.campaign_sends_sweep_task")

    def everything_sent():
        """every enrollment to complete and every message to be recorded sent"""
        done = Enrollment.objects.filter(flow=flow, status=Enrollment.Status.COMPLETED).count()
        return done == count and sends.filter(status=Send.Status.SENT).count() == count

    beat_until(everything_sent)
    time.sleep(1)  # anything sent late would arrive now

    # Then: the first kill lost only its open batch: what was committed was whole (a ledger row
    # for each run); the second landed mid-send ...
    assert 0 < runs_at_kill < count
    assert queued_at_kill == runs_at_kill
    assert in_flight > 0
    # ... each enrollment ran the step once and has one ledger row, sent ...
    runs = StepRun.objects.filter(flow=flow, step_key="mail")
    assert runs.count() == count
    assert runs.values("enrollment_id").distinct().count() == count
    assert Counter(sends.values_list("status", flat=True)) == {Send.Status.SENT: count}
    # ... and every profile got its message, twice only where it was in flight at the kill.
    addresses, messages = received(sink)
    assert set(addresses) == {f"f{i}@example.com" for i in range(count)}
    duplicates = {address: n for address, n in addresses.items() if n > 1}
    with capsys.disabled():
        print(
            f"\nfirst kill with a batch open after {runs_at_kill} step runs; second kill after "
            f"{received_at_kill} messages received, {in_flight} rows claimed; sent twice: "
            f"{len(duplicates)} (bound: CAMPAIGN_MARK_EVERY={MARK_EVERY})"
        )
    assert len(duplicates) <= MARK_EVERY
    assert set(duplicates.values()) <= {2}
    ids: dict[str, set] = {}
    for message in messages:  # a resent message keeps its ledger row's Message-ID
        if message.rcpt_tos[0] in duplicates:
            ids.setdefault(message.rcpt_tos[0], set()).add(message.message_id)
    assert all(len(found) == 1 for found in ids.values())
    assert len(messages) == count + len(duplicates)
