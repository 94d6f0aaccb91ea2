"""Celery tasks of the journeys app: thin wrappers over its services."""

from celery import shared_task

from journeys.selectors import dashboard_refresh
from journeys.services import stage_triggers_process, stages_refresh


@shared_task(name="journeys.tasks.stages_refresh_task")
def stages_refresh_task() -> dict:
    """Move profiles forward between journey stages, then fire stage-triggered campaigns."""
    moved = stages_refresh()
    stage_triggers_process()
    return moved


@shared_task(name="journeys.tasks.dashboard_refresh_task")
def dashboard_refresh_task() -> list[str]:
    """Recompute the dashboard blocks whose data changed (run by beat)."""
    return dashboard_refresh()
