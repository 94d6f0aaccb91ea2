"""Celery tasks of the flows app: thin wrappers over its services."""

import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from flows.engine import AdvanceResult, enrollments_advance
from flows.models import Enrollment, Flow


def advance_due() -> dict:
    """Advance due enrollments batch by batch until none is due or the time budget is spent.

    A task that spends its budget with enrollments still due hands over to a new advance task,
    queued behind what the batches queued (the sends): a worker alternates between moving
    enrollments and sending their messages, so the first messages leave while the rest of a
    large wake-up is still being moved, and no task holds a worker for long.

    Once the batches have queued many messages, the send ledger's statistics are refreshed
    (once a task), as a campaign start does for its audience: the senders' claims of those rows
    then plan well at once, without waiting for autovacuum.
    """
    from campaigns.services.audience import ledger_statistics_refresh

    deadline = time.monotonic() + settings.FLOW_TIME_BUDGET_SECONDS
    total, refreshed = AdvanceResult(), False
    while time.monotonic() < deadline:
        result = enrollments_advance()
        total.add(result)
        if total.queued and not refreshed:
            refreshed = ledger_statistics_refresh(added=total.queued)
        if not result.claimed:
            break
    else:
        flows_advance_task.delay()  # the budget is spent and some may still be due
    return total.__dict__


@shared_task(name="flows.tasks.flows_advance_task")
def flows_advance_task() -> dict:
    """Advance due enrollments batch by batch until none is due or the time budget is spent."""
    return advance_due()


@shared_task(name="flows.tasks.flows_events_task")
def flows_events_task(events: list) -> dict:
    """Apply ingested events to the flows, then advance whoever they made due."""
    from flows.triggers import flows_events_handle

    counts = flows_events_handle(events=events)
    if any(counts.values()):
        counts["advanced"] = advance_due()["claimed"]
    return counts


@shared_task(name="flows.tasks.flows_transitions_task")
def flows_transitions_task() -> int:
    """Enroll or exit on segment and stage transitions (after an evaluation, and by beat)."""
    from flows.triggers import segment_transitions_handle, stage_transitions_handle

    return segment_transitions_handle() + stage_transitions_handle()


@shared_task(name="flows.tasks.flows_tick_task")
def flows_tick_task() -> dict:
    """Beat: date triggers, transitions, lost webhook calls, then advance what is due."""
    from flows.triggers import date_triggers_handle
    from flows.webhooks import webhooks_sweep

    counts = {
        "dates": date_triggers_handle(),
        "transitions": flows_transitions_task(),
        "webhooks": webhooks_sweep(),
    }
    due = Enrollment.objects.filter(
        status=Enrollment.Status.ACTIVE, wake_at__lte=timezone.now(), flow__status=Flow.Status.LIVE
    ).count()
    tasks = min(settings.FLOW_ADVANCE_TASKS, -(-due // settings.FLOW_BATCH_SIZE))
    for _ in range(tasks):
        flows_advance_task.delay()
    counts["due"], counts["tasks"] = due, tasks
    return counts


@shared_task(name="flows.tasks.flow_webhook_task")
def flow_webhook_task(enrollment_id: int, step_key: str) -> str:
    """Make one attempt of a webhook step."""
    from flows.webhooks import webhook_call

    return webhook_call(enrollment_id=enrollment_id, step_key=step_key)
