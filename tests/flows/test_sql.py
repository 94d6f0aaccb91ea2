"""flows.sql: each database-specific statement, run on the database of the suite (SQLite, or
PostgreSQL: the CI runs the suite on both)."""

import datetime
import threading

import pytest
from django.db import connection, transaction

from flows import sql
from flows.models import Enrollment, StepRun
from tests.factories import ProfileFactory
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
WAIT = [{"key": "w", "kind": "wait", "duration": {"hours": 1}}, {"key": "x", "kind": "exit"}]


def enrolled(count: int) -> list[Enrollment]:
    """Enrollments standing on the wait, due at NOW (written directly: no task advances them)."""
    flow = live_flow(WAIT)
    return Enrollment.objects.bulk_create(
        Enrollment(
            flow=flow, version_id=flow.version_id, profile=ProfileFactory(), entry=1,
            step_key="w", step_since=NOW, wake_at=NOW, entered_at=NOW,
        )
        for _ in range(count)
    )  # fmt: skip


def test_a_claim_returns_the_due_rows_in_id_order_with_aware_datetimes():
    rows = enrolled(3)
    Enrollment.objects.filter(pk=rows[1].pk).update(wake_at=NOW + datetime.timedelta(hours=1))

    with transaction.atomic():
        claimed = sql.enrollments_claim(now=NOW, limit=10)

    first = rows[0]
    assert [row[0] for row in claimed] == [rows[0].pk, rows[2].pk]
    assert claimed[0] == (
        first.pk, first.profile_id, first.flow_id, first.version_id, 1, "w", NOW, NOW,
    )  # fmt: skip
    assert claimed[0][6].utcoffset() == datetime.timedelta(0)


def test_a_claim_takes_at_most_the_limit_and_a_second_claim_the_rest():
    rows = enrolled(3)

    with transaction.atomic():
        first = sql.enrollments_claim(now=NOW, limit=2)
        sql.enrollments_place(
            groups={
                sql.Place("active", "w", NOW, NOW + datetime.timedelta(hours=1), None, ""): [
                    row[0] for row in first
                ]
            }
        )
    with transaction.atomic():
        second = sql.enrollments_claim(now=NOW, limit=2)

    assert len(first) == 2
    assert [row[0] for row in second] == [rows[2].pk]


def test_rows_held_by_an_open_batch_are_skipped_by_another_worker_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: a second claim waits for the first")
    rows = enrolled(3)
    other = []

    def claim_elsewhere():
        try:
            with transaction.atomic():
                other.extend(row[0] for row in sql.enrollments_claim(now=NOW, limit=10))
        finally:
            connection.close()

    with transaction.atomic():
        mine = sql.enrollments_claim(now=NOW, limit=2)
        thread = threading.Thread(target=claim_elsewhere)
        thread.start()
        thread.join(timeout=30)

    assert [row[0] for row in mine] == [rows[0].pk, rows[1].pk]
    assert other == [rows[2].pk]


def test_enrollments_place_writes_each_group_on_its_enrollments_only():
    rows = enrolled(3)
    later = NOW + datetime.timedelta(hours=2)

    sql.enrollments_place(
        groups={
            sql.Place("completed", "x", later, None, later, "exit_step"): [rows[0].pk],
            sql.Place("active", "x", later, later, None, ""): [rows[1].pk],
        }
    )

    done, waiting, untouched = Enrollment.objects.order_by("pk")
    assert (done.status, done.step_key, done.finished_at, done.wake_at) == (
        "completed", "x", later, None,
    )  # fmt: skip
    assert done.exit_reason == "exit_step"
    assert (waiting.status, waiting.step_since, waiting.wake_at) == ("active", later, later)
    assert (untouched.step_key, untouched.wake_at) == ("w", NOW)


def test_step_runs_insert_writes_one_run_per_enrollment_of_each_group():
    rows = enrolled(3)
    flow_id = rows[0].flow_id
    done = sql.RunValues(flow_id, "w", "done", "", '{"campaign": "c"}')
    pending = sql.RunValues(flow_id, "x", "pending", "", "{}")

    inserted = sql.step_runs_insert(
        runs={done: [rows[0].pk, rows[1].pk], pending: [rows[2].pk]}, at=NOW
    )

    assert inserted == 3
    runs = {(r.enrollment_id, r.step_key): r for r in StepRun.objects.all()}
    assert runs[(rows[0].pk, "w")].detail == {"campaign": "c"}
    assert (runs[(rows[1].pk, "w")].status, runs[(rows[1].pk, "w")].at) == ("done", NOW)
    assert runs[(rows[2].pk, "x")].status == "pending"
    assert runs[(rows[2].pk, "x")].attempts == 0


def test_step_runs_of_returns_only_this_steps_runs_of_these_enrollments():
    rows = enrolled(3)
    flow_id = rows[0].flow_id
    runs = {
        sql.RunValues(flow_id, "w", "done", "", "{}"): [rows[0].pk, rows[1].pk],
        sql.RunValues(flow_id, "x", "done", "", "{}"): [rows[0].pk],
    }
    sql.step_runs_insert(runs=runs, at=NOW)

    found = sql.step_runs_of(step_key="w", enrollment_ids=[rows[0].pk, rows[2].pk])

    assert [(run.enrollment_id, run.step_key) for run in found] == [(rows[0].pk, "w")]
    assert sql.step_runs_of(step_key="w", enrollment_ids=[]) == []
