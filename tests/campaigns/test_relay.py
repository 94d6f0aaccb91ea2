"""The SMTP relay (``campaigns.relay``): a worker's SMTP conversation in a process of its own.

Against real SMTP servers on loopback: answers come back in order with smtplib's own errors,
a relay that cannot connect says why, a relay killed mid-send still answers for every message
it was given, and a relay whose worker is killed stops and ends.
"""

import os
import queue
import signal
import smtplib
import socket
import subprocess
import sys
import time

import pytest
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

from campaigns.mail import smtp_relay_path
from campaigns.models import Send
from campaigns.relay import Relay, RelayError, RelayStopped
from campaigns.services import delivery
from campaigns.services.audience import campaign_start
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with
from tests.campaigns.smtp_sink import BoundController, Recorder
from tests.conftest import ROOT

FROM = "bench@shop.example"
DATA = b"Subject: hi\r\nMessage-ID: <m@shop.example>\r\n\r\nhello\r\n"
MARK = object()


def backend_to(port: int, **extra) -> SmtpBackend:
    return SmtpBackend(host="127.0.0.1", port=port, use_tls=False, use_ssl=False, **extra)


def outcomes_of(outcomes: queue.SimpleQueue, count: int) -> list:
    return [outcomes.get(timeout=30) for _ in range(count)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_relay_answers_in_order_with_smtplibs_errors(picky_server):
    outcomes = queue.SimpleQueue()
    relay = Relay(backend_to(picky_server.port), outcomes)

    for key, recipient in enumerate(["li@example.com", "bounce@example.com", "busy@example.com"]):
        relay.submit(key, FROM, recipient, DATA)
    relay.mark(MARK)
    relay.close()

    answers = outcomes_of(outcomes, 4)
    assert answers[0] == (0, None)
    (key, bounce), (key_busy, busy) = answers[1], answers[2]
    assert (key, key_busy) == (1, 2)
    assert isinstance(bounce, smtplib.SMTPRecipientsRefused)
    assert bounce.recipients == {"bounce@example.com": (550, b"5.1.1 No such user")}
    assert busy.recipients["busy@example.com"][0] == 451
    assert answers[3] is MARK
    assert outcomes.empty()
    assert relay.broken is None
    assert [m.rcpt_tos for m in picky_server.handler.messages] == [["li@example.com"]]
    assert relay.process.returncode == 0


def test_a_relay_that_cannot_connect_says_why():
    with pytest.raises(RelayError) as error:
        Relay(backend_to(free_port(), timeout=5), queue.SimpleQueue())

    assert error.value.name == "ConnectionRefusedError"
    assert "refused" in str(error.value).lower()


def test_a_relay_killed_mid_send_still_answers_for_every_message():
    slow = BoundController(Recorder(delay=0.3))
    slow.start()
    try:
        outcomes = queue.SimpleQueue()
        relay = Relay(backend_to(slow.port), outcomes)
        for key in range(5):
            relay.submit(key, FROM, f"user{key}@example.com", DATA)
        relay.mark(MARK)
        assert slow.handler.wait_for(1, timeout=10)
        relay.process.send_signal(signal.SIGKILL)  # not close(): as if it crashed
        answers = outcomes_of(outcomes, 6)
        relay.submit(5, FROM, "late@example.com", DATA)  # given after the relay's end
        relay.mark("late mark")
        late = outcomes_of(outcomes, 2)
        relay.close()
    finally:
        slow.stop()

    assert [answer[0] for answer in answers[:5]] == list(range(5))
    sent = [key for key, error in answers[:5] if error is None]
    stopped = [key for key, error in answers[:5] if isinstance(error, RelayStopped)]
    # The ones answered before the kill went out; the others may have (the one in the server's
    # hands) or not: they are reported as stopped, and the relay as broken.
    assert sent + stopped == list(range(5))
    assert len(sent) <= slow.handler.count < 5
    assert stopped
    assert answers[5] is MARK
    assert isinstance(relay.broken, RelayStopped)
    assert late[0][0] == 5 and isinstance(late[0][1], RelayStopped)
    assert late[1] == "late mark"


class CountedWrites:
    """The relay's input pipe, counting the writes made to it."""

    def __init__(self, stream):
        self.stream = stream
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        return self.stream.write(data)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def test_messages_handed_while_the_relay_is_busy_go_in_runs_and_none_is_held_back():
    slow = BoundController(Recorder(delay=0.005))
    slow.start()
    try:
        outcomes = queue.SimpleQueue()
        relay = Relay(backend_to(slow.port), outcomes)
        relay.process.stdin = counted = CountedWrites(relay.process.stdin)
        for key in range(60):
            relay.submit(key, FROM, f"user{key}@example.com", DATA)
        # No mark and no close: the last run is written as the relay's answers come back.
        answers = outcomes_of(outcomes, 60)
        relay.close()
    finally:
        slow.stop()

    assert answers == [(key, None) for key in range(60)]
    assert [m.rcpt_tos[0] for m in slow.handler.messages] == [
        f"user{key}@example.com" for key in range(60)
    ]
    # The first ones at once, the rest mostly in runs of 8 rather than one write each.
    assert counted.writes <= 30


WORKER = """
import os, signal, sys, queue, types
from campaigns.relay import Relay
backend = types.SimpleNamespace(
    host="127.0.0.1", port=int(sys.argv[1]), username="", password="", use_tls=False,
    use_ssl=False, timeout=10, ssl_keyfile=None, ssl_certfile=None,
)
relay = Relay(backend, queue.SimpleQueue())
data = b"Subject: hi\\r\\n\\r\\nhi\\r\\n"
for n in range(3):
    relay.submit(n, "bench@shop.example", f"user{n}@example.com", data)
print(relay.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def gone(pid: int) -> bool:
    """True when the process has ended (a zombie no one has reaped yet counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_relay_whose_worker_is_killed_stops_at_its_next_answer_and_ends(smtp_server):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, str(smtp_server.port)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    relay_pid = int(worker.stdout.split()[0])

    deadline = time.monotonic() + 20
    while not gone(relay_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(relay_pid)
    # It sent at most what it was handed, in order, and stopped when an answer found no one.
    received = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert received == [f"user{n}@example.com" for n in range(len(received))]
    assert len(received) <= 3


def test_only_djangos_own_way_of_connecting_goes_through_the_relay():
    class Tuned(SmtpBackend):
        pass

    class OAuth(SmtpBackend):
        def open(self):
            return super().open()

    assert smtp_relay_path(SmtpBackend())
    assert smtp_relay_path(Tuned())
    assert not smtp_relay_path(OAuth())


@pytest.mark.django_db(transaction=True)
def test_campaign_send_uses_one_relay_for_all_its_batches_when_enabled(
    smtp_settings, picky_server, monkeypatch
):
    enabled = smtp_settings.CAMPAIGN_SMTP_RELAY  # the fixture runs the test with and without
    started = []

    class Counted(Relay):
        def __init__(self, *args, **kwargs):
            started.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(delivery, "Relay", Counted)
    profiles = profiles_make(7)
    campaign = campaign_ready(include=[segment_with(profiles)])
    campaign_start(campaign_id=campaign.pk)

    result = delivery.campaign_send(campaign_id=campaign.pk, limit=3)  # three batches

    assert result.sent == 7
    assert len(started) == (1 if enabled else 0)
    assert all(relay.process.returncode == 0 for relay in started)
    statuses = set(Send.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {Send.Status.SENT}
    assert sorted(m.rcpt_tos[0] for m in picky_server.handler.messages) == sorted(
        p.email for p in profiles
    )
