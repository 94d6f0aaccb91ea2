"""An advance task works for its time budget, then hands over to a task queued behind the sends."""

import itertools
from unittest import mock

import pytest
from django.utils import timezone

from flows import tasks
from flows.models import Enrollment
from tests.factories import ProfileFactory
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db(transaction=True)


def three_entered() -> None:
    """A live flow [update profile] with three profiles standing on its step, due now."""
    flow = live_flow([{"key": "t", "kind": "update_profile", "set_traits": {"seen": True}}])
    now = timezone.now()
    Enrollment.objects.bulk_create(
        Enrollment(
            flow=flow, version_id=flow.version_id, profile=ProfileFactory(), entry=1,
            step_key="t", step_since=now, wake_at=now, entered_at=now,
        )
        for _ in range(3)
    )  # fmt: skip


def clock(*readings: float):
    """Return a monotonic clock that reads ``readings``, then stays at the last one."""
    values = itertools.chain(readings, itertools.repeat(readings[-1]))
    return lambda: next(values)


def test_a_task_that_spends_its_budget_with_work_left_queues_the_next_one(settings):
    # Given: three due enrollments, batches of one, and a clock past the budget after one batch.
    settings.FLOW_BATCH_SIZE = 1
    settings.FLOW_TIME_BUDGET_SECONDS = 2
    three_entered()

    # When: the task runs.
    with (
        mock.patch.object(tasks.time, "monotonic", clock(0.0, 0.0, 5.0)),
        mock.patch.object(tasks.flows_advance_task, "delay") as delay,
    ):
        result = tasks.advance_due()

    # Then: it moved one and handed the rest to a new task, queued once.
    assert result["claimed"] == 1
    delay.assert_called_once_with()
    assert Enrollment.objects.filter(status=Enrollment.Status.ACTIVE).count() == 2


def test_a_task_that_runs_out_of_due_enrollments_queues_nothing(settings):
    # Given: three due enrollments and batches of one, with time to spare.
    settings.FLOW_BATCH_SIZE = 1
    three_entered()

    # When: the task runs.
    with mock.patch.object(tasks.flows_advance_task, "delay") as delay:
        result = tasks.advance_due()

    # Then: it moved all three and found nothing more to hand over.
    assert result["claimed"] == 3
    delay.assert_not_called()
    assert not Enrollment.objects.filter(status=Enrollment.Status.ACTIVE).exists()
