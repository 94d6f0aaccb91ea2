"""Benchmark campaign delivery to a loopback SMTP sink next to a bare smtplib loop (PostgreSQL)."""

import argparse
import cProfile
import io
import itertools
import json
import os
import pstats
import resource
import signal
import smtplib
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from auditlog.context import disable_auditlog
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.urls import get_resolver
from django.utils import timezone

from campaigns.delivery import campaign_send, message_id_make
from campaigns.models import Campaign, Send, Variant
from campaigns.services.audience import campaign_start
from campaigns.services.content import message_render
from profiles.models import ConsentRecord, ConsentState, Profile
from profiles.services.consent_links import consent_preferences_url, consent_unsubscribe_url
from segments.models import Segment, SegmentMembership
from tools.bench import (
    CHUNK,
    FROM_EMAIL,
    ROOT,
    CpuMeter,
    Sink,
    cpu_seconds,
    database_cpu_seconds,
    database_url,
    recipients_create,
    recipients_remove,
    vacuum,
    variant_content,
)
from tools.bench_send_sms import SmsBench
from tools.bench_send_sms import sender as sms_sender
from tools.management.commands._bench_send_support import frames, split

PREFIX = "bench-send-"


class Command(BaseCommand):
    help = (
        "On PostgreSQL: create N recipients with email consent in a segment, start a loopback "
        "SMTP sink, and send the same messages with a bare smtplib loop over one connection "
        "(baseline), then through the project's delivery service in 1 and in 2 OS processes; "
        "around the 2-process run, two bare loops on two connections at once show where the "
        "SMTP server saturates. Prints messages/s and the ratios; ends with one JSON line. "
        "Removes what it created."
    )

    def add_arguments(self, parser):
        parser.add_argument("--recipients", type=int, default=100_000)
        parser.add_argument(
            "--channel",
            choices=["email", "sms"],
            default="email",
            help="sms: through a fake Aliyun SMS endpoint next to a bare http.client loop",
        )
        parser.add_argument("--keep", action="store_true", help="keep the created rows")
        parser.add_argument(
            "--no-pipelining",
            action="store_true",
            help="the sink does not offer PIPELINING (by default it does, as Postfix does)",
        )
        parser.add_argument(
            "--profile", action="store_true", help="run the 1-process delivery under cProfile"
        )
        # Internal: run the delivery service for one campaign in this process (a sender).
        parser.add_argument("--sender", type=int, help=argparse.SUPPRESS)
        parser.add_argument("--profile-out", help=argparse.SUPPRESS)
        parser.add_argument("--smtp-port", type=int, help=argparse.SUPPRESS)
        parser.add_argument("--sms-port", type=int, help=argparse.SUPPRESS)
        # Internal: run the bare loop on the messages in this file, when told to start.
        parser.add_argument("--bare-file", help=argparse.SUPPRESS)

    def handle(
        self,
        *args,
        recipients,
        channel,
        keep,
        no_pipelining,
        profile,
        sender,
        profile_out,
        smtp_port,
        bare_file,
        sms_port=None,
        **options,
    ):
        if connection.vendor != "postgresql":
            raise CommandError("bench_send runs on PostgreSQL: set DATABASE_URL=postgres://…")
        if bare_file is not None:
            self._bare_sender(Path(bare_file), smtp_port)
            return
        if sender is not None and channel == "sms":
            self.stdout.write(json.dumps(sms_sender(sender, sms_port, profile_out)))
            return
        if sender is not None:
            self._sender(sender, profile_out, smtp_port)
            return
        if recipients < 1:
            raise CommandError("--recipients must be at least 1.")
        # Stopped with SIGTERM, still stop the sink and remove the rows (the finally blocks).
        signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
        self._clean()
        if channel == "sms":
            self._sms(recipients, keep=keep, profile=profile)
            return
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            if cursor.fetchone()[0] != "on":
                self.say(
                    "autovacuum is off on this server: the benchmark vacuums the tables it "
                    "fills, and the send ledger before each run, as autovacuum would"
                )
        self.cpu_per_message: dict[int, dict[str, int]] = {}
        self.cpu_bound: dict[int, int] = {}
        figures = {"recipients": recipients, "cpus": os.cpu_count()}
        with tempfile.TemporaryDirectory(prefix="bench-send-") as folder:
            sink = Sink(Path(folder) / "count", pipelining=not no_pipelining)
            figures["sink_offers_pipelining"] = not no_pipelining
            try:
                offers = "offers" if sink.pipelining else "does not offer"
                self.say(
                    f"SMTP sink (count only) on 127.0.0.1:{sink.port}; it {offers} PIPELINING "
                    "(smtplib, the bare loop, never uses it)"
                )
                self._measure(figures, recipients, sink, Path(folder), profile=profile)
            finally:
                sink.stop()
                if not keep:
                    self._clean()
        self._summary(figures)
        self.stdout.write(json.dumps(figures))

    def _sms(self, recipients: int, *, keep: bool, profile: bool) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="bench-send-") as folder:
                out = Path(folder) / "profile.out" if profile else None
                figures = SmsBench(self, PREFIX, profile_out=out).run(recipients)
        finally:
            if not keep:
                self._clean()
        self.stdout.write(json.dumps(figures, ensure_ascii=False))

    def _measure(self, figures: dict, recipients: int, sink, folder: Path, *, profile) -> None:
        """Run the bare loops and the project's runs (1 and 2 processes); fill ``figures``."""
        segment = self._audience(recipients)
        campaigns = [self._campaign(segment, f"{PREFIX}{n}") for n in (1, 2)]
        for campaign in campaigns:
            started = time.perf_counter()
            campaign_start(campaign_id=campaign.pk)
            figures["freeze_seconds"] = round(time.perf_counter() - started, 2)
            self.say(f"{campaign.slug}: audience frozen in {figures['freeze_seconds']}s")
        # The machine's speed drifts: the bare loop runs before and after each project
        # run, and each ratio is to the mean of the two around it.
        messages = folder / "messages.bin"
        count, building = self._bare_build(campaigns[0], messages)
        halves = split(messages, 2)
        bare = [self._bare(campaigns[0], sink, messages)]
        parallel, parallel_busy = [], []  # two bare loops at once, around 2 processes
        for workers, campaign in zip((1, 2), campaigns, strict=True):
            if workers == 2:
                meter = CpuMeter()
                parallel.append(self._bare_parallel(sink, halves))
                parallel_busy.append(meter.busy())
            # The last run left a dead row version per row it sent, in every index of
            # the ledger: autovacuum clears them within a minute or so (the planner
            # walked through them, 6 to 24 ms a batch instead of 1, where it is off).
            vacuum(Send)
            meter = CpuMeter()
            rate = self._deliver(campaign, workers, sink, folder, profile=profile and workers == 1)
            figures[f"cpu_busy_{workers}_process"] = meter.busy()
            if workers == 2:
                meter = CpuMeter()
                parallel.append(self._bare_parallel(sink, halves))
                parallel_busy.append(meter.busy())
            bare.append(self._bare(campaigns[0], sink, messages))
            baseline = (bare[-2] + bare[-1]) / 2
            with_building = 1 / (1 / baseline + building / count)
            figures[f"bare_smtplib_around_{workers}_process_msgs_per_s"] = round(baseline)
            figures[f"project_{workers}_process_msgs_per_s"] = round(rate)
            figures[f"ratio_{workers}_process_to_bare"] = round(rate / baseline, 3)
            figures[f"ratio_{workers}_process_to_render_build_send"] = round(
                rate / with_building, 3
            )
        figures["bare_smtplib_runs_msgs_per_s"] = [round(rate) for rate in bare]
        figures["bare_2_connections_runs_msgs_per_s"] = [round(rate) for rate in parallel]
        figures["cpu_busy_2_connections_runs"] = parallel_busy
        figures["bare_build_seconds_per_1000"] = round(building / count * 1000, 3)
        self._ratios(figures, parallel)

    def _ratios(self, figures: dict, parallel: list[float]) -> None:
        """Add the ratios between the runs and the CPU figures to ``figures``."""
        both = sum(parallel) / len(parallel)
        figures["bare_2_connections_around_2_process_msgs_per_s"] = round(both)
        figures["ratio_2_process_to_2_connections"] = round(
            figures["project_2_process_msgs_per_s"] / both, 3
        )
        figures["scaling_2_to_1"] = round(
            figures["project_2_process_msgs_per_s"] / figures["project_1_process_msgs_per_s"], 3
        )
        figures["ratio_per_process_2_to_bare"] = round(figures["ratio_2_process_to_bare"] / 2, 3)
        figures["sender"] = "campaign_send() in separate OS processes (manage.py)"
        for workers, cpu in self.cpu_per_message.items():
            figures[f"cpu_us_per_message_{workers}_process"] = cpu
            figures[f"cpu_bound_{workers}_process_msgs_per_s"] = self.cpu_bound[workers]
            figures[f"ratio_{workers}_process_to_cpu_bound"] = round(
                figures[f"project_{workers}_process_msgs_per_s"] / self.cpu_bound[workers], 3
            )

    def _summary(self, figures: dict) -> None:
        self.say(
            f"project: 1 process {figures['project_1_process_msgs_per_s']:,} msg/s "
            f"({figures['ratio_1_process_to_bare']:.0%} of the bare smtplib loop around it, "
            f"{figures['bare_smtplib_around_1_process_msgs_per_s']:,} msg/s); 2 processes "
            f"{figures['project_2_process_msgs_per_s']:,} msg/s "
            f"({figures['ratio_2_process_to_bare']:.0%} of "
            f"{figures['bare_smtplib_around_2_process_msgs_per_s']:,}; "
            f"×{figures['scaling_2_to_1']} of 1 process; "
            f"{figures['ratio_2_process_to_2_connections']:.0%} of two bare loops at once, "
            f"{figures['bare_2_connections_around_2_process_msgs_per_s']:,} msg/s) "
            f"on {figures['cpus']} CPUs, busy {figures['cpu_busy_1_process']:.0%} and "
            f"{figures['cpu_busy_2_process']:.0%} of the time; at their CPU cost per message, "
            f"all CPUs busy would send {figures['cpu_bound_1_process_msgs_per_s']:,} and "
            f"{figures['cpu_bound_2_process_msgs_per_s']:,} msg/s"
        )

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    # --- set-up and clean-up ---------------------------------------------------------------

    def _audience(self, count: int) -> Segment:
        started = time.perf_counter()
        segment = Segment.objects.create(
            name="bench_send audience", slug=f"{PREFIX}audience", kind=Segment.Kind.STATIC
        )
        ids = recipients_create(prefix=PREFIX, count=count, say=self.say)
        for start in range(0, count, CHUNK):
            chunk = ids[start : start + CHUNK]
            SegmentMembership.objects.bulk_create(
                SegmentMembership(segment=segment, profile_id=pk) for pk in chunk
            )
        self.say(f"{count:,} recipients with consent in {time.perf_counter() - started:.1f}s")
        # Tables filled a moment ago have no statistics yet, and the planner then reads every
        # granted consent to check a batch's (55 ms instead of 0.4 ms a batch at 40,000).
        # autovacuum analyzes them within a minute or so; a database in use has them.
        vacuum(Profile, ConsentRecord, ConsentState, SegmentMembership)
        return segment

    def _campaign(self, segment: Segment, slug: str) -> Campaign:
        campaign = Campaign.objects.create(
            name=slug,
            slug=slug,
            channel="email",
            status=Campaign.Status.SCHEDULED,
            send_at=timezone.now(),
            from_email=FROM_EMAIL,
        )
        campaign.include_segments.add(segment)
        for key in "AB":
            Variant.objects.create(campaign=campaign, key=key, weight=50, **variant_content(key))
        return campaign

    def _clean(self) -> None:
        """Remove the benchmark's rows, without writing an audit entry for each (not user data)."""
        with disable_auditlog():
            campaigns = Campaign.objects.filter(slug__startswith=PREFIX)
            Send.objects.filter(campaign__in=campaigns).delete()
            campaigns.delete()
            Segment.objects.filter(slug__startswith=PREFIX).delete()
        if Profile.objects.filter(external_id__startswith=PREFIX).exists():
            self.say("removing the benchmark's rows …")
            recipients_remove(prefix=PREFIX)

    # --- the baseline: the same messages, rendered beforehand, over one smtplib connection ----

    def _bare_build(self, campaign: Campaign, path: Path) -> tuple[int, float]:
        """Render and build the campaign's messages into ``path``; return (count, seconds)."""
        rows = Send.objects.filter(campaign=campaign).select_related("profile", "variant")
        rows = rows.order_by("pk")
        building, count, after = 0.0, 0, 0
        with path.open("wb") as out:
            while True:
                chunk = list(rows.filter(pk__gt=after)[:CHUNK])
                if not chunk:
                    break
                after = chunk[-1].pk
                started = time.perf_counter()
                messages = [self._message(campaign, row) for row in chunk]
                building += time.perf_counter() - started
                for to, data in messages:
                    address = to.encode()
                    out.write(struct.pack("!HI", len(address), len(data)) + address + data)
                count += len(messages)
        self.say(f"{count:,} messages rendered and built for the bare loop in {building:.1f}s")
        return count, building

    def _bare(self, campaign: Campaign, sink: "Sink", path: Path) -> float:
        """Send the messages built in ``path`` with a bare smtplib loop; return msg/s."""
        before = sink.count()
        smtp = smtplib.SMTP("127.0.0.1", sink.port)
        seconds, sent = 0.0, 0
        last = time.perf_counter()
        source = frames(path)
        while messages := list(itertools.islice(source, CHUNK)):
            started = time.perf_counter()
            for to, data in messages:
                smtp.sendmail(campaign.from_email, [to], data)
            seconds += time.perf_counter() - started
            sent += len(messages)
            if time.perf_counter() - last > 10:
                last = time.perf_counter()
                self.say(f"  bare loop: {sent:,} messages")
        smtp.quit()
        sink.wait_for(before + sent)
        rate = sent / seconds
        self.say(f"bare smtplib loop: {sent:,} messages in {seconds:.1f}s, {rate:,.0f} msg/s")
        return rate

    def _bare_parallel(self, sink: "Sink", paths: list[Path]) -> float:
        """Run a bare loop per file at once, each in its own process on its own connection;
        return their messages/s together (first start to last end)."""
        before = sink.count()
        env = {**os.environ, "DATABASE_URL": database_url()}
        command = [sys.executable, str(ROOT / "manage.py"), "bench_send", "--smtp-port"]
        command += [str(sink.port), "--bare-file"]
        loops = [
            subprocess.Popen(  # noqa: S603 (this command, in another process)
                [*command, str(path)],
                env=env,
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for path in paths
        ]
        try:
            for loop in loops:  # each has read its messages: start them together
                if loop.stdout.readline().strip() != "READY":
                    raise CommandError("a bare loop process did not start")
            for loop in loops:
                loop.stdin.write("GO\n")
                loop.stdin.flush()
            reports = [json.loads(loop.stdout.readline()) for loop in loops]
        finally:
            for loop in loops:
                loop.stdin.close()
                loop.wait()
                loop.stdout.close()
        sent = sum(report["sent"] for report in reports)
        seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)
        sink.wait_for(before + sent)
        rate = sent / seconds
        self.say(
            f"bare smtplib loops on {len(paths)} connections at once: {sent:,} messages in "
            f"{seconds:.1f}s, {rate:,.0f} msg/s"
        )
        return rate

    def _bare_sender(self, path: Path, smtp_port: int) -> None:
        """Load the messages in ``path``, say READY, wait for GO, send them; print a report."""
        messages = list(frames(path))
        smtp = smtplib.SMTP("127.0.0.1", smtp_port)
        self.say("READY")
        sys.stdin.readline()
        start = time.time()
        for to, data in messages:
            smtp.sendmail(FROM_EMAIL, [to], data)
        end = time.time()
        smtp.quit()
        self.stdout.write(json.dumps({"start": start, "end": end, "sent": len(messages)}))

    @staticmethod
    def _message(campaign: Campaign, row: Send) -> tuple[str, bytes]:
        """Return (recipient, bytes) of the email the delivery service sends for this row."""
        links = {
            "unsubscribe_url": consent_unsubscribe_url(
                profile_id=row.profile_id, channel="email", purpose=campaign.purpose
            ),
            "preferences_url": consent_preferences_url(
                profile_id=row.profile_id, channel="email", purpose=campaign.purpose
            ),
        }
        rendered = message_render(
            campaign=campaign, variant=row.variant, profile=row.profile, extra=links
        )
        email = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=campaign.from_email,
            to=[row.profile.email],
            headers={
                "Message-ID": message_id_make(send=row, from_email=campaign.from_email),
                "List-Unsubscribe": f"<{links['unsubscribe_url']}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        email.attach_alternative(rendered.html, "text/html")
        return row.profile.email, email.message().as_bytes(linesep="\r\n")

    # --- the project's delivery path in OS processes -----------------------------------------

    def _deliver(
        self, campaign: Campaign, workers: int, sink: "Sink", folder: Path, *, profile: bool
    ) -> float:
        """Send the campaign from ``workers`` sender processes; check and report; return msg/s."""
        queued = Send.objects.filter(campaign=campaign, status=Send.Status.QUEUED).count()
        before, sink_cpu, database_cpu = sink.count(), sink.cpu_seconds(), database_cpu_seconds()
        processes = self._senders_start(campaign, workers, sink, folder, profile=profile)
        while any(p.poll() is None for p in processes):
            time.sleep(5)
            self.say(f"  {workers} process(es): {sink.count() - before:,} of {queued:,} sent")
        reports = []
        for process in processes:
            output = process.stdout.read().strip().splitlines()
            process.stdout.close()
            if process.returncode != 0 or not output:
                raise CommandError(f"a sender process failed (exit {process.returncode})")
            reports.append(json.loads(output[-1]))
        sent = sum(report["sent"] for report in reports)
        seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)
        sink.wait_for(before + sent)
        received = sink.count() - before
        left = Send.objects.filter(campaign=campaign).exclude(status=Send.Status.SENT).count()
        if received != queued or sent != queued or left:
            raise CommandError(
                f"{workers} process(es): {queued} queued, {sent} recorded sent, {received} "
                f"received by the sink, {left} rows not sent"
            )
        rate = sent / seconds
        shares = ", ".join(f"{r['sent']:,}" for r in reports)
        self.say(
            f"project, {workers} process(es): {sent:,} messages in {seconds:.1f}s, "
            f"{rate:,.0f} msg/s (per process: {shares})"
        )
        cpu = {"worker": sum(r["cpu_self"] for r in reports), "sink": sink.cpu_seconds() - sink_cpu}
        if database_cpu is not None:
            cpu["database"] = database_cpu_seconds() - database_cpu
        self._cpu_report(workers, cpu, sent)
        self._profile_print(folder / "profile.out")
        return rate

    def _senders_start(
        self, campaign: Campaign, workers: int, sink: "Sink", folder: Path, *, profile: bool
    ) -> list[subprocess.Popen]:
        env = {**os.environ, "DATABASE_URL": database_url()}
        command = [sys.executable, str(ROOT / "manage.py"), "bench_send", "--smtp-port"]
        command += [str(sink.port), "--sender"]
        processes = []
        for index in range(workers):
            profiled = profile and index == 0
            extra = ["--profile-out", str(folder / "profile.out")] if profiled else []
            processes.append(
                subprocess.Popen(  # noqa: S603 (this command, in another process)
                    [*command, str(campaign.pk), *extra],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        return processes

    def _cpu_report(self, workers: int, cpu: dict[str, float], sent: int) -> None:
        """Keep and say the CPU time per message of each part (µs) and the rate it bounds."""
        per_message = {name: round(seconds / sent * 1e6) for name, seconds in cpu.items()}
        per_message["all"] = sum(per_message.values())
        self.cpu_per_message[workers] = per_message
        # At this much CPU per message, the machine's CPUs all busy would send this many.
        self.cpu_bound[workers] = round((os.cpu_count() or 1) * 1e6 / per_message["all"])
        self.say(
            "  CPU per message, µs: "
            + ", ".join(f"{name} {value}" for name, value in per_message.items())
            + f"; all CPUs busy at this cost: {self.cpu_bound[workers]:,} msg/s"
        )

    def _profile_print(self, path: Path) -> None:
        if path.exists():
            text = io.StringIO()
            stats = pstats.Stats(str(path), stream=text)
            stats.sort_stats("cumulative").print_stats(25)
            stats.sort_stats("tottime").print_stats(20)
            self.say(text.getvalue())
            path.unlink()

    def _sender(self, campaign_id: int, profile_out: str | None, smtp_port: int) -> None:
        """Send the campaign with the delivery service, as a Celery task does; print a report."""
        # This process exists to send to the benchmark's sink, whatever the settings module says.
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        connection.ensure_connection()
        # A worker imports the URL configuration once, at its first message (here it imports
        # the results' statistics too, seconds of start-up): do it before the clock starts.
        get_resolver().url_patterns  # noqa: B018
        profiler = cProfile.Profile() if profile_out else None
        cpu_before = cpu_seconds(resource.RUSAGE_SELF)
        start = time.time()
        if profiler:
            profiler.enable()
        result = campaign_send(campaign_id=campaign_id, budget_seconds=24 * 3600)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_out)
        end = time.time()
        report = {"start": start, "end": end, "sent": result.sent, "failed": result.failed}
        report["skipped"] = result.skipped
        # CPU seconds of this process since the clock started (it has no helper process).
        report["cpu_self"] = cpu_seconds(resource.RUSAGE_SELF) - cpu_before
        self.stdout.write(json.dumps(report))
