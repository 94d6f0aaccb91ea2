"""A real Celery worker process, on the configured broker, does work the database can see."""

import pytest

from config.celery import app
from core.models import Job, JobStatus, WorkerHeartbeat
from core.services import job_enqueue
from tests.conftest import wait_for

pytestmark = pytest.mark.worker


def test_a_worker_process_runs_a_task_sent_through_the_broker(celery_worker_process):
    app.send_task("core.tasks.heartbeat_task", args=["probe-from-test"])

    def heartbeat_written():
        """the worker to record the heartbeat"""
        return WorkerHeartbeat.objects.filter(hostname="probe-from-test").first()

    beat = wait_for(heartbeat_written)

    assert beat.seen_at is not None


def test_a_queued_job_is_claimed_and_finished_by_the_worker(celery_worker_process):
    app.conf.task_always_eager = False  # send through the broker, not inline
    try:
        job = job_enqueue(kind="core.selftest", payload={"steps": 3})
        # A duplicate message must not run the job twice: the claim is a compare-and-set.
        app.send_task("core.tasks.job_run_task", args=[job.pk])

        def job_finished():
            """the worker to finish the job"""
            return Job.objects.filter(pk=job.pk, status=JobStatus.DONE).first()

        done = wait_for(job_finished)
    finally:
        app.conf.task_always_eager = True

    assert done.result == {"steps": 3}
    assert done.progress == 3
    assert done.attempts == 1
