"""Celery tasks of the predictions app: thin wrappers over its services."""

from celery import shared_task

from predictions.services import predictions_refresh_enqueue


@shared_task(name="predictions.tasks.predictions_refresh_task")
def predictions_refresh_task() -> int:
    """Queue the nightly refresh as a job (so it shows progress like the button's)."""
    return predictions_refresh_enqueue().pk
