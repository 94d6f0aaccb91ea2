"""Celery tasks for jobs and heartbeats: thin wrappers over core.services."""

from celery import shared_task

from core import services


@shared_task(name="core.tasks.heartbeat_task")
def heartbeat_task(hostname: str | None = None) -> None:
    services.heartbeat_record(hostname=hostname)


@shared_task(name="core.tasks.job_run_task")
def job_run_task(job_id: int) -> None:
    services.job_run(job_id=job_id)


@shared_task(name="core.tasks.job_sweep_task")
def job_sweep_task() -> None:
    services.job_sweep()
