"""Benchmark flows on real Celery workers: an event's way to the SMTP server, and N enrollments
waking at once next to a one-off campaign to the same profiles."""

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from campaigns.models import Send
from flows.models import Enrollment, StepRun
from profiles.models import ConsentRecord, ConsentState, Profile
from segments.models import SegmentMembership
from tools.bench import (
    CpuMeter,
    Sink,
    Workers,
    recipients_create,
    vacuum,
)
from tools.flows_bench import (
    LATENCY_EVENT,
    PREFIX,
    UNUSED_EVENT,
    EventPoster,
    audience_segment,
    beat_tasks,
    bench_clean,
    broker_kind,
    campaign_one_off,
    flow_campaigns,
    flow_enroll_waiting,
    flow_live,
    flow_wake,
    percentile,
    through_broker,
)

LATENCY_BOUND = {("postgresql", "redis"): 5.0, ("sqlite", "filesystem"): 60.0}
THROUGHPUT_BOUND = 0.8
TICK = {"campaign": "campaigns.tasks.campaigns_tick_task", "flow": "flows.tasks.flows_tick_task"}
NAMES = {"campaign": "one-off campaign", "flow": "flow [wait 1 hour → send]"}
# What the workers are told: every message sent at once (no quiet hours, no rate limit).
WORKER_ENV = {"CAMPAIGN_QUIET_HOURS": "", "CAMPAIGN_RATE_LIMIT_EMAIL": 0}


class Command(BaseCommand):
    help = (
        "Flows on real Celery worker processes and a loopback SMTP sink. Latency: a live flow "
        "whose first step sends an email, events POSTed one by one to the events API at "
        "--event-rate per second, one worker; prints p50/p95/max seconds from the API's answer to "
        "the message reaching the sink. Throughput (PostgreSQL): N profiles with consent get a "
        "one-off campaign, and N enrollments of a flow [wait 1 hour → send] wake at once (their "
        "clock moved on by an hour) and send the same message, through the same --workers "
        "workers, in --rounds rounds (the campaign first in odd ones, the flow first in even "
        "ones); prints both rates and their ratio. Plays beat (the campaigns' and flows' ticks "
        "at their schedule). Ends with one JSON line; removes what it created."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=100_000, help="throughput: N")
        parser.add_argument("--events", type=int, default=100, help="latency: events to time")
        parser.add_argument("--event-rate", type=float, default=4.0, help="latency: events/s")
        parser.add_argument("--workers", type=int, default=2, help="throughput: worker processes")
        parser.add_argument(
            "--rounds",
            type=int,
            default=2,
            help="throughput: rounds of a campaign and a flow (the campaign first in odd ones)",
        )
        parser.add_argument("--only", choices=["latency", "throughput"])
        parser.add_argument("--timeout", type=float, default=3600, help="give up after (s)")
        parser.add_argument(
            "--keep", action="store_true", help="keep the rows and the workers' logs (to look into)"
        )

    def handle(self, *args, only, timeout, keep, **options):
        profiles, events, workers = options["profiles"], options["events"], options["workers"]
        event_rate, rounds = options["event_rate"], options["rounds"]
        numbers = {"--profiles": profiles, "--events": events, "--workers": workers}
        for name, value in {**numbers, "--rounds": rounds}.items():
            if value < 1:
                raise CommandError(f"{name} must be at least 1.")
        parts = [only] if only else ["latency", "throughput"]
        if "throughput" in parts and connection.vendor != "postgresql":
            if only:
                raise CommandError("The throughput run needs PostgreSQL: set DATABASE_URL.")
            self.say("throughput: skipped (it runs on PostgreSQL); timing the latency only")
            parts = ["latency"]
        signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
        stack = (connection.vendor, broker_kind())
        figures = {"database": stack[0], "broker": stack[1], "cpus": os.cpu_count()}
        self.timeout = timeout
        bench_clean()
        with _folder(keep) as folder, through_broker():
            try:
                if "latency" in parts:
                    figures["latency"] = self._latency(Path(folder), events, event_rate, stack)
                if "throughput" in parts:
                    figures["throughput"] = self._throughput(
                        Path(folder), profiles, workers, rounds
                    )
            finally:
                if not keep:
                    self.say("removing the benchmark's rows …")
                    bench_clean()
        self.stdout.write(json.dumps(figures))

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    # --- latency: one event at a time, through the API, to the SMTP sink ---------------------

    def _latency(self, folder: Path, events: int, rate: float, stack) -> dict:
        sink = Sink(folder / "latency.jsonl", record=True)
        workers = Workers(smtp_port=sink.port, folder=folder, env=WORKER_ENV)
        try:
            recipients_create(prefix=f"{PREFIX}l-", count=events + 1)
            flow_live("latency", trigger=LATENCY_EVENT, wait=False)
            workers.start(1)
            poster = EventPoster(prefix=f"{PREFIX}l-")
            poster.post(0)  # the worker's first task imports what it needs: not timed
            self._wait_count(sink, 1, "the warm-up message")
            started = time.monotonic()
            for index in range(1, events + 1):
                time.sleep(max(0.0, started + (index - 1) / rate - time.monotonic()))
                poster.post(index)
            self._wait_count(sink, events + 1, "every event's message")
        finally:
            workers.stop()
            sink.stop()
        arrived = {message.rcpt_tos[0]: message.at for message in sink.messages()}
        seconds = sorted(arrived[email] - at for email, at in poster.accepted.items())
        figures = {
            "events": events,
            "events_per_s": rate,
            "workers": 1,
            "p50_s": round(percentile(seconds, 0.50), 3),
            "p95_s": round(percentile(seconds, 0.95), 3),
            "max_s": round(seconds[-1], 3),
            "bound_p95_s": LATENCY_BOUND.get(stack),
        }
        self.say(
            f"latency on {stack[0]} + {stack[1]}, 1 worker, {events} events at {rate}/s: "
            f"p50 {figures['p50_s']}s, p95 {figures['p95_s']}s, max {figures['max_s']}s "
            f"(from the API's 201 to the message at the SMTP server; bound "
            f"{figures['bound_p95_s']}s at p95)"
        )
        return figures

    def _wait_count(self, sink: Sink, count: int, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while sink.count() < count:
            if time.monotonic() > deadline:
                raise CommandError(f"gave up waiting for {what}: {sink.count()} of {count}")
            time.sleep(0.1)

    # --- throughput: a one-off campaign, then the same profiles waking in a flow --------------

    def _throughput(self, folder: Path, count: int, workers_count: int, rounds: int) -> dict:
        sink = Sink(folder / "count")
        # A one-off campaign is sent by as many tasks at once as there are workers; each round
        # sends two messages per profile: the frequency cap is checked, never reached.
        env = {**WORKER_ENV, "CAMPAIGN_WORKERS": workers_count}
        env["CAMPAIGN_FREQUENCY_CAP"] = 2 * rounds + 1
        workers = Workers(smtp_port=sink.port, folder=folder, env=env)
        runs = []
        try:
            started = time.perf_counter()
            ids = recipients_create(prefix=f"{PREFIX}t-", count=count, say=self.say)
            segment = audience_segment(ids)
            self.say(f"{count:,} profiles with consent in {time.perf_counter() - started:.1f}s")
            vacuum(Profile, ConsentRecord, ConsentState, SegmentMembership)
            workers.start(workers_count)
            for number in range(1, rounds + 1):
                runs.append(self._round(number, ids, segment, sink, workers))
        finally:
            workers.stop()
            sink.stop()
        campaign = _rate(run["campaign"] for run in runs)
        flow = _rate(run["flow"] for run in runs)
        figures = {
            "profiles": count,
            "workers": workers_count,
            "rounds": runs,
            "campaign_msgs_per_s": campaign,
            "flow_msgs_per_s": flow,
            "ratio_flow_to_campaign": round(flow / campaign, 3),
            "ratio_each_round": [run["ratio"] for run in runs],
            "bound_ratio": THROUGHPUT_BOUND,
        }
        self.say(
            f"the flow sends at {figures['ratio_flow_to_campaign']:.0%} of the one-off "
            f"campaign's rate ({flow:,.0f} and {campaign:,.0f} msg/s over {rounds} round(s); "
            f"bound {THROUGHPUT_BOUND:.0%}) with {workers_count} worker processes"
        )
        return figures

    def _round(self, number: int, ids: list[int], segment, sink: Sink, workers: Workers) -> dict:
        """A one-off campaign to the profiles and the same profiles waking in a flow, the
        campaign first in odd rounds and the flow first in even ones (the machine drifts, and
        the frequency cap counts the messages sent before)."""
        count, before = len(ids), sink.count()
        flow = flow_live(f"throughput-{number}", trigger=UNUSED_EVENT, wait=True)
        started = time.perf_counter()
        flow_enroll_waiting(flow, ids)
        seconds = time.perf_counter() - started
        self.say(f"round {number}: {count:,} enrollments waiting 1 hour (set up in {seconds:.1f}s)")
        runs = {}
        for kind in ("campaign", "flow") if number % 2 else ("flow", "campaign"):
            vacuum(Send, Enrollment, StepRun)
            if kind == "flow":
                flow_wake(flow)
            else:  # created due now just before its run: beat in the flow's run cannot start it
                campaign = campaign_one_off(segment, number)
            runs[kind] = self._run(sink, workers, count, TICK[kind])
            self.say(f"round {number}, {NAMES[kind]}: {_describe(runs[kind])}")
        self._check_once(sink, flow, campaign, count, before)
        ratio = round(runs["flow"]["msgs_per_s"] / runs["campaign"]["msgs_per_s"], 3)
        return {**runs, "ratio": ratio}

    def _run(self, sink: Sink, workers: Workers, count: int, first_task: str) -> dict:
        """Send ``first_task``, play beat, and time until ``count`` more messages arrived."""
        from config.celery import app

        before = sink.count()
        meter, cpu_before = CpuMeter(), (sink.cpu_seconds(), workers.cpu_seconds())
        started = time.monotonic()
        app.send_task(first_task)
        schedule = beat_tasks()
        due = {task: started + every for task, every in schedule.items()}
        first = last_report = None
        deadline = started + self.timeout
        while (received := sink.count() - before) < count:
            now = time.monotonic()
            if now > deadline:
                raise CommandError(f"gave up after {self.timeout:.0f}s: {received} of {count}")
            if first is None and received:
                first = now - started
            for task, at in due.items():
                if now >= at:
                    app.send_task(task)
                    due[task] = at + schedule[task]
            if last_report is None or now - last_report >= 10:
                last_report = now
                self.say(f"  {received:,} of {count:,} messages at {now - started:.0f}s")
            time.sleep(0.05)
        seconds = time.monotonic() - started
        worker_cpu = workers.cpu_seconds() - cpu_before[1]
        return {
            "count": count,
            "seconds": round(seconds, 2),
            "msgs_per_s": round(count / seconds, 1),
            "first_message_after_s": round(first if first is not None else seconds, 2),
            "cpu_busy": meter.busy(),
            "workers_cpu_us_per_msg": round(worker_cpu / count * 1e6),
            "sink_cpu_us_per_msg": round((sink.cpu_seconds() - cpu_before[0]) / count * 1e6),
        }

    def _check_once(self, sink: Sink, flow, campaign, count: int, before: int) -> None:
        """Fail unless every profile got each message once (the ledgers and the sink agree)."""
        time.sleep(1)  # a message sent twice would have arrived by now
        received = sink.count() - before
        sends = Send.objects.filter(campaign__in=[campaign.pk, *flow_campaigns(flow)])
        sent = sends.filter(status=Send.Status.SENT).count()
        runs = StepRun.objects.filter(flow=flow, step_key="mail").count()
        if received != 2 * count or sent != 2 * count or runs != count:
            raise CommandError(
                f"expected {2 * count} messages, one per profile and run: the sink got "
                f"{received}, the ledger marked {sent} sent, the flow ran its send step {runs} "
                "times"
            )


def _describe(run: dict) -> str:
    return (
        f"{run['msgs_per_s']:,.0f} msg/s ({run['seconds']}s, first message after "
        f"{run['first_message_after_s']}s; workers' CPU {run['workers_cpu_us_per_msg']} µs a "
        f"message; machine busy {run['cpu_busy']:.0%})"
    )


@contextlib.contextmanager
def _folder(keep: bool):
    """Yield a temporary folder for the sink's and workers' files, left in place if ``keep``."""
    if not keep:
        with tempfile.TemporaryDirectory(prefix="bench-flows-") as folder:
            yield folder
        return
    folder = tempfile.mkdtemp(prefix="bench-flows-")
    yield folder
    print(f"the workers' logs are in {folder}")


def _rate(runs) -> float:
    runs = list(runs)
    return round(sum(run["count"] for run in runs) / sum(run["seconds"] for run in runs), 1)
