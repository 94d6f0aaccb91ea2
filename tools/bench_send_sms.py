"""bench_send --channel sms: an SMS campaign through the fake Aliyun endpoint, next to a bare loop.

The fake Aliyun SMS endpoint (``tools.fakes.aliyun_sms``) runs in its own process and checks
every request's signature. The baseline is a bare ``http.client`` loop over one kept-alive
connection posting the same signed SendSms requests (texts rendered beforehand, each request
signed with a fresh nonce as it must be); it runs before and after the project's run, and the
ratio is to the mean of the two. The project's run is ``campaign_send`` with the Aliyun backend
in one sender process (a worker), as a Celery task runs it.
"""

import cProfile
import datetime
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection
from django.urls import get_resolver

from campaigns.channels.aliyun_sms import FORM, send_params, signed_body
from campaigns.channels.sms_template import SmsTemplate
from campaigns.delivery import campaign_send
from campaigns.models import Campaign, Send, Variant
from campaigns.services.audience import campaign_start
from campaigns.services.content import message_render
from campaigns.sms import SmsMessage
from segments.models import Segment, SegmentMembership
from tools.bench import CHUNK, ROOT, database_url, recipients_create, vacuum
from tools.fakes import aliyun_sms

TEMPLATE = "SMS_100"


def fake_start() -> tuple[subprocess.Popen, int]:
    """Start the fake Aliyun endpoint in its own process; return it and its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.fakes.aliyun_sms", "--port", "0"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return process, int(process.stdout.readline())


def fake_count(port: int) -> int:
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection_.request("GET", "/_count")
        return json.loads(connection_.getresponse().read())["sent"]
    finally:
        connection_.close()


def sender_settings(port: int) -> None:
    """Send SMS through the Aliyun backend to the fake on ``port``, whatever the settings say."""
    settings.SMS_BACKEND = "campaigns.channels.aliyun_sms.AliyunSmsBackend"
    settings.SMS_ALIYUN_ENDPOINT = f"http://127.0.0.1:{port}/"
    settings.SMS_ALIYUN_ACCESS_KEY_ID = aliyun_sms.ACCESS_KEY_ID
    settings.SMS_ALIYUN_ACCESS_KEY_SECRET = aliyun_sms.ACCESS_KEY_SECRET
    settings.SMS_ALIYUN_SIGN_NAME = aliyun_sms.SIGN_NAME
    settings.SMS_TEMPLATE_CODE, settings.SMS_TEMPLATE_TEXT_PARAM = TEMPLATE, "content"


def sender(campaign_id: int, port: int, profile_out: str | None = None) -> dict:
    """Send the campaign with the delivery service in this process; return a report."""
    sender_settings(port)
    connection.ensure_connection()
    get_resolver().url_patterns  # noqa: B018 (imported once by a worker, before the clock)
    profiler = cProfile.Profile() if profile_out else None
    cpu = time.process_time()
    start = time.time()
    if profiler:
        profiler.enable()
    result = campaign_send(campaign_id=campaign_id, budget_seconds=24 * 3600)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_out)
    end, cpu = time.time(), time.process_time() - cpu
    return {"start": start, "end": end, "sent": result.sent, "failed": result.failed, "cpu": cpu}


class SmsBench:
    """Run the SMS benchmark for ``command`` (bench_send): say what happens, return figures."""

    def __init__(self, command, prefix: str, *, profile_out: Path | None = None):
        self.command = command
        self.prefix = prefix
        self.profile_out = profile_out  # run the worker under cProfile, its statistics here
        self.cpu: dict[str, list[float]] = {"bare": [], "project": []}  # µs per message

    def run(self, recipients: int) -> dict:
        fake, port = fake_start()
        try:
            campaign = self._campaign(recipients)
            messages = self._messages(campaign)
            bare = [self._bare(messages, port)]
            vacuum(Send)
            project = self._deliver(campaign, port, len(messages))
            bare.append(self._bare(messages, port))
        finally:
            fake.stdin.close()
            fake.wait(timeout=30)
            fake.stdout.close()
        baseline = sum(bare) / len(bare)
        figures = {
            "channel": "sms",
            "provider": "fake Aliyun SendSms (signature checked), own process",
            "recipients": recipients,
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "bare_http_client_runs_msgs_per_s": [round(rate) for rate in bare],
            "bare_http_client_msgs_per_s": round(baseline),
            "project_1_worker_msgs_per_s": round(project),
            "ratio_1_worker_to_bare": round(project / baseline, 3),
            # The client's own CPU per message (scheduling noise left out): what the worker
            # adds to the same signed requests (claims, guards, rendering, the ledger).
            "bare_client_cpu_us_per_message": round(sum(self.cpu["bare"]) / len(bare)),
            "worker_cpu_us_per_message": round(self.cpu["project"][0]),
        }
        self.command.say(
            f"SMS: 1 worker {project:,.0f} msg/s, {project / baseline:.0%} of the bare "
            f"http.client loop around it ({baseline:,.0f} msg/s); client CPU per message "
            f"{figures['worker_cpu_us_per_message']} µs in the worker, "
            f"{figures['bare_client_cpu_us_per_message']} µs in the bare loop"
        )
        return figures

    def _campaign(self, count: int) -> Campaign:
        started = time.perf_counter()
        segment = Segment.objects.create(
            name="bench_send sms audience", slug=f"{self.prefix}audience", kind=Segment.Kind.STATIC
        )
        ids = recipients_create(
            prefix=self.prefix, count=count, say=self.command.say, channel="sms"
        )
        for start in range(0, count, CHUNK):
            SegmentMembership.objects.bulk_create(
                SegmentMembership(segment=segment, profile_id=pk)
                for pk in ids[start : start + CHUNK]
            )
        campaign = Campaign.objects.create(
            name=f"{self.prefix}sms",
            slug=f"{self.prefix}sms",
            channel="sms",
            status=Campaign.Status.SCHEDULED,
            send_at=datetime.datetime.now(datetime.UTC),
        )
        campaign.include_segments.add(segment)
        for key in "AB":
            text = f"{key}: {{{{ name }}}}，{{{{ city }}}}门店春季优惠已开始，凭短信到店享九折。"
            Variant.objects.create(campaign=campaign, key=key, weight=50, body_text=text)
        campaign_start(campaign_id=campaign.pk)
        self.command.say(
            f"{count:,} SMS recipients and the campaign in {time.perf_counter() - started:.1f}s"
        )
        return campaign

    def _messages(self, campaign: Campaign) -> list[SmsMessage]:
        """Render the campaign's queued rows as the project would, for the bare loop."""
        rows = Send.objects.filter(campaign=campaign, status=Send.Status.QUEUED)
        messages = []
        for row in rows.select_related("profile", "variant").order_by("pk").iterator(CHUNK):
            text = message_render(campaign=campaign, variant=row.variant, profile=row.profile).text
            messages.append(
                SmsMessage(to=str(row.profile.phone), text=text, reference=f"send-{row.pk}")
            )
        return messages

    def _bare(self, messages: list[SmsMessage], port: int) -> float:
        """POST a signed SendSms per message over one connection; return msg/s."""
        before = fake_count(port)
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started, cpu = time.perf_counter(), time.process_time()
        for message in messages:
            params = send_params(
                message,
                SmsTemplate(TEMPLATE, {"content": message.text}),
                access_key_id=aliyun_sms.ACCESS_KEY_ID,
                sign_name=aliyun_sms.SIGN_NAME,
                region="cn-hangzhou",
                now=datetime.datetime.now(datetime.UTC),
                nonce=uuid.uuid4().hex,
            )
            body = signed_body(params, aliyun_sms.ACCESS_KEY_SECRET)
            client.request("POST", "/", body=body, headers={"Content-Type": FORM})
            answer = client.getresponse().read()
            if b'"Code": "OK"' not in answer:
                raise CommandError(f"the fake refused a bare request: {answer[:200]!r}")
        seconds = time.perf_counter() - started
        self.cpu["bare"].append((time.process_time() - cpu) / len(messages) * 1e6)
        client.close()
        if fake_count(port) - before != len(messages):
            raise CommandError("the fake did not count every bare request")
        rate = len(messages) / seconds
        self.command.say(
            f"bare http.client loop: {len(messages):,} in {seconds:.1f}s, {rate:,.0f} msg/s"
        )
        return rate

    def _deliver(self, campaign: Campaign, port: int, queued: int) -> float:
        before = fake_count(port)
        env = {**os.environ, "DATABASE_URL": database_url()}
        command = [sys.executable, str(ROOT / "manage.py"), "bench_send", "--channel", "sms"]
        command += ["--sms-port", str(port), "--sender", str(campaign.pk)]
        if self.profile_out is not None:
            command += ["--profile-out", str(self.profile_out)]
        process = subprocess.run(  # noqa: S603 (this command, in another process)
            command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False
        )
        output = process.stdout.strip().splitlines()
        if process.returncode != 0 or not output:
            raise CommandError(f"the SMS sender process failed (exit {process.returncode})")
        report = json.loads(output[-1])
        received = fake_count(port) - before
        left = Send.objects.filter(campaign=campaign).exclude(status=Send.Status.SENT).count()
        if received != queued or report["sent"] != queued or left:
            raise CommandError(
                f"{queued} queued, {report['sent']} recorded sent, {received} taken by the fake, "
                f"{left} rows not sent"
            )
        seconds = report["end"] - report["start"]
        self.cpu["project"].append(report["cpu"] / queued * 1e6)
        rate = queued / seconds
        self.command.say(f"project, 1 worker: {queued:,} in {seconds:.1f}s, {rate:,.0f} msg/s")
        if self.profile_out is not None:
            self.command._profile_print(self.profile_out)
        return rate
