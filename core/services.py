"""Enqueue, run, report and sweep background jobs; record worker heartbeats."""

import logging
import socket
import traceback
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.errors import CodedError, coded
from core.jobs import job_handler
from core.logs import log_context
from core.models import Job, JobStatus, Notification, WorkerHeartbeat
from core.notifications import notification_send
from core.sql import ping

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
ERROR_GAVE_UP = coded(
    "job.gave_up",
    gettext_noop("The job was restarted {attempts} times after its worker died; giving up."),
)


def _send(job_id: int) -> None:
    from core.tasks import job_run_task

    job_run_task.delay(job_id)


def job_enqueue(*, kind: str, payload: dict, user=None, total: int | None = None) -> Job:
    """Record a job and send a message pointing at it once the transaction commits."""
    job = Job.objects.create(
        kind=kind,
        payload=payload,
        created_by=user if user and user.is_authenticated else None,
        total=total,
    )
    transaction.on_commit(lambda: _send(job.pk))
    return job


class JobReporter:
    """Write a running job's progress at most every ``interval`` seconds."""

    def __init__(self, job: Job, interval: float = 0.5):
        self.job = job
        self.interval = timedelta(seconds=interval)
        self._last = None

    def __call__(self, progress: int, total: int | None = None, message: str = "", force=False):
        now = timezone.now()
        if not force and self._last and now - self._last < self.interval:
            return
        self._last = now
        fields = {"progress": progress, "heartbeat_at": now}
        if total is not None:
            fields["total"] = total
        if message:
            fields["message"] = message[:255]
        Job.objects.filter(pk=self.job.pk).update(**fields)
        for name, value in fields.items():
            setattr(self.job, name, value)


def job_run(*, job_id: int) -> Job | None:
    """Claim a queued job (compare-and-set), run its handler, and record the outcome."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None  # another worker has it, or it is finished
    job = Job.objects.get(pk=job_id)
    with log_context(job_id=job_id):
        _job_handle(job)
    job.refresh_from_db()
    return job


def _job_handle(job: Job) -> None:
    """Run a claimed job's handler and record its result or error."""
    job_id = job.pk
    logger.info("Job %s (%s) started, attempt %s", job_id, job.kind, job.attempts)
    try:
        result = job_handler(job.kind)(job=job, report=JobReporter(job))
    except Exception as exc:
        logger.exception("Job %s failed", job_id)
        Job.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED,
            error=_job_error(exc),
            finished_at=timezone.now(),
        )
        _job_notify(job, Notification.Level.FAILED)
    else:
        Job.objects.filter(pk=job_id).update(
            status=JobStatus.DONE,
            result=result or {},
            progress=job.total if job.total is not None else job.progress,
            finished_at=timezone.now(),
        )
        logger.info("Job %s (%s) done", job_id, job.kind)
        _job_notify(job, Notification.Level.DONE)


def _job_notify(job: Job, level: str) -> None:
    """Tell the user who started the job that it finished or failed."""
    notification_send(
        user_id=job.created_by_id,
        topic="job",
        level=level,
        params={"kind": job.kind, "job_id": job.pk},
        url=reverse("job-detail", args=[job.pk]),
    )


def _job_error(exc: Exception) -> str:
    """Return what a failed job stores: a coded error's code and parameters, else text and trace."""
    if isinstance(exc, CodedError):
        return exc.dumps()
    return f"{exc}\n\n{traceback.format_exc(limit=5)}"


def job_sweep() -> dict[str, int]:
    """Re-send queued jobs whose message may be lost and restart jobs whose worker died."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
    resent = restarted = failed = 0
    for job_id in Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=stale).values_list(
        "pk", flat=True
    ):
        _send(job_id)
        resent += 1
    dead = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale)
    for job in dead.only("pk", "attempts", "kind", "created_by_id"):
        if job.attempts >= MAX_ATTEMPTS:
            gave_up = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                status=JobStatus.FAILED,
                error=ERROR_GAVE_UP.dumps(attempts=job.attempts),
                finished_at=now,
            )
            if gave_up:
                _job_notify(job, Notification.Level.FAILED)
            failed += gave_up
            continue
        if Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, heartbeat_at__lt=stale).update(
            status=JobStatus.QUEUED, created_at=now
        ):
            _send(job.pk)
            restarted += 1
    return {"resent": resent, "restarted": restarted, "failed": failed}


def heartbeat_record(*, hostname: str | None = None) -> WorkerHeartbeat:
    """Record that a worker on ``hostname`` is alive now."""
    beat, _created = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname or socket.gethostname(), defaults={"seen_at": timezone.now()}
    )
    return beat


def selftest_job(*, job: Job, report: JobReporter) -> dict:
    """Run a worker self-test: a few database round trips, reporting progress after each."""
    steps = int(job.payload.get("steps", 5))
    for step in range(1, steps + 1):
        ping()
        report(step, steps, force=True)
    return {"steps": steps}
