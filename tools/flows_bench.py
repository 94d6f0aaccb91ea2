"""The parts of bench_flows that set up and remove flows, campaigns, events and API access."""

import contextlib
import datetime
import math
import time

from auditlog.context import disable_auditlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, Send, Variant
from core.roles import OPS
from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment, Flow, FlowMessage, StepRun
from flows.services import flow_create, flow_go_live
from segments.models import Segment, SegmentMembership
from tools.bench import CHUNK, FROM_EMAIL, recipients_remove, variant_content

PREFIX = "bench-flows-"
LATENCY_EVENT = "bench_flows_latency"
UNUSED_EVENT = "bench_flows_never_sent"
WAIT = datetime.timedelta(hours=1)
BEAT_TASKS = ("campaigns.tasks.campaigns_tick_task", "flows.tasks.flows_tick_task")


def broker_kind() -> str:
    """Return the configured broker's scheme: redis, filesystem, amqp …"""
    return settings.CELERY_BROKER_URL.split("://", 1)[0]


@contextlib.contextmanager
def through_broker():
    """Send tasks through the broker to the worker processes, even where settings run them in
    this process (the test settings do)."""
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


def beat_tasks() -> dict[str, float]:
    """Return the ticks the benchmark plays beat for, with their period in seconds."""
    schedule = {}
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"] in BEAT_TASKS:
            schedule[entry["task"]] = float(entry["schedule"])
    return schedule


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile ``share`` (0.95 for p95) of sorted ``values``."""
    rank = max(1, math.ceil(share * len(values)))
    return values[rank - 1]


def _send_step() -> dict:
    variants = [{"key": key, "weight": 50, **variant_content(key)} for key in "AB"]
    return {
        "key": "mail",
        "kind": "send",
        "channel": "email",
        "from_email": FROM_EMAIL,
        "variants": variants,
    }


def flow_live(name: str, *, trigger: str, wait: bool) -> Flow:
    """Create a live flow started by event ``trigger``: [send] or [wait 1 hour → send]."""
    steps = [_send_step()]
    if wait:
        steps.insert(0, {"key": "wait", "kind": "wait", "duration": {"hours": 1}})
    definition = {
        "trigger": {"type": "event", "event": trigger},
        "reentry": {"policy": "once"},
        "steps": steps,
    }
    flow = flow_create(name=f"Bench {name}", slug=f"{PREFIX}{name}", definition=definition)
    return flow_go_live(flow=flow)


def flow_campaigns(flow: Flow) -> list[int]:
    """Return the ids of the flow's step campaigns."""
    return list(
        FlowMessage.objects.filter(version__flow=flow).values_list("campaign_id", flat=True)
    )


def flow_enroll_waiting(flow: Flow, profile_ids: list[int]) -> None:
    """Enroll the profiles and move them onto the flow's wait (here, not on a worker)."""
    for start in range(0, len(profile_ids), CHUNK * 2):
        flow_enroll(flow=flow, profile_ids=profile_ids[start : start + CHUNK * 2])
    while enrollments_advance().claimed:
        pass


def flow_wake(flow: Flow) -> int:
    """Move the clock of the flow's waiting enrollments on by the wait: all due now."""
    now = timezone.now()
    return Enrollment.objects.filter(flow=flow, status=Enrollment.Status.ACTIVE).update(
        step_since=now - WAIT - datetime.timedelta(seconds=1), wake_at=now
    )


def audience_segment(profile_ids: list[int]) -> Segment:
    """Return a static segment of these profiles."""
    segment = Segment.objects.create(
        name="bench_flows audience", slug=f"{PREFIX}audience", kind=Segment.Kind.STATIC
    )
    for start in range(0, len(profile_ids), CHUNK):
        chunk = profile_ids[start : start + CHUNK]
        SegmentMembership.objects.bulk_create(
            SegmentMembership(segment=segment, profile_id=pk) for pk in chunk
        )
    return segment


def campaign_one_off(segment: Segment, number: int) -> Campaign:
    """Create a one-off email campaign to the segment, due now, with the flows' message."""
    campaign = Campaign.objects.create(
        name=f"{PREFIX}campaign-{number}",
        slug=f"{PREFIX}campaign-{number}",
        channel="email",
        status=Campaign.Status.SCHEDULED,
        send_at=timezone.now(),
        from_email=FROM_EMAIL,
    )
    campaign.include_segments.add(segment)
    for key in "AB":
        Variant.objects.create(campaign=campaign, key=key, weight=50, **variant_content(key))
    return campaign


class EventPoster:
    """POST one event at a time to the events API as an ops user with a token, through Django's
    whole request path in this process; ``accepted``: each recipient's time of the 201."""

    def __init__(self, *, prefix: str):
        from rest_framework.test import APIClient

        from core.tokens import api_token_create

        user = get_user_model().objects.create_user(username=f"{PREFIX}api")
        user.groups.add(Group.objects.get_or_create(name=OPS)[0])
        host = next((h.lstrip(".") for h in settings.ALLOWED_HOSTS if h != "*"), "localhost")
        self.client = APIClient(HTTP_HOST=host or "localhost")
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
        self.prefix = prefix
        self.accepted: dict[str, float] = {}

    def post(self, index: int) -> None:
        event = {
            "external_id": f"{self.prefix}{index:08d}",
            "name": LATENCY_EVENT,
            "occurred_at": timezone.now().isoformat(),
        }
        response = self.client.post("/api/v1/events/", [event], format="json", secure=True)
        if response.status_code != 201:
            raise RuntimeError(
                f"the events API answered {response.status_code}: {response.content}"
            )
        if index:  # 0 is the warm-up
            self.accepted[f"{self.prefix}{index}@example.com"] = time.time()


def bench_clean() -> None:
    """Remove every row the benchmark made (flows, their ledgers, campaigns, profiles, user)."""
    with disable_auditlog(), transaction.atomic():
        flows = Flow.objects.filter(slug__startswith=PREFIX)
        campaign_ids = list(
            FlowMessage.objects.filter(version__flow__in=flows).values_list("campaign", flat=True)
        )
        campaign_ids += Campaign.objects.filter(slug__startswith=PREFIX).values_list(
            "pk", flat=True
        )
        StepRun.objects.filter(flow__in=flows).delete()
        Enrollment.objects.filter(flow__in=flows).delete()
        flows.update(version=None)
        FlowMessage.objects.filter(version__flow__in=flows).delete()
        flows.delete()
        Send.objects.filter(campaign__in=campaign_ids).delete()
        Campaign.objects.filter(pk__in=campaign_ids).delete()
        Segment.objects.filter(slug__startswith=PREFIX).delete()
        get_user_model().objects.filter(username__startswith=PREFIX).delete()
    recipients_remove(prefix=PREFIX)
