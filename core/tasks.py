"""Celery tasks for jobs and heartbeats: thin wrappers over core.services."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from core import exports, services, uploads

logger = logging.getLogger(__name__)


@shared_task(name="core.tasks.heartbeat_task")
def heartbeat_task(hostname: str | None = None) -> None:
    services.heartbeat_record(hostname=hostname)


@shared_task(name="core.tasks.job_run_task")
def job_run_task(job_id: int) -> None:
    services.job_run(job_id=job_id)


@shared_task(name="core.tasks.job_sweep_task")
def job_sweep_task() -> None:
    services.job_sweep()


@worker_ready.connect
def _heartbeat_on_start(sender=None, **kwargs):
    """Record a heartbeat as soon as a worker is ready, not only at the first beat tick."""
    try:
        services.heartbeat_record()
    except Exception:  # the database may not be migrated yet; the beat tick will retry
        logger.warning("Could not record the start-up heartbeat", exc_info=True)


@shared_task(name="core.tasks.uploads_sweep_task")
def uploads_sweep_task() -> dict:
    """Delete uploads that were previewed and never imported, and export files past their age."""
    return {"uploads": uploads.uploads_sweep(), "exports": exports.exports_sweep()}
