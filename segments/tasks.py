"""Celery tasks of the segments app: thin wrappers over its services."""

from celery import shared_task

from segments.services import (
    segment_evaluate,
    segment_run_notify,
    segments_evaluate_many,
    segments_refresh_due,
)


@shared_task(name="segments.tasks.segment_evaluate_task")
def segment_evaluate_task(segment_id: int, user_id: int | None = None) -> None:
    """Evaluate one segment; a segment another worker holds is left to that worker. The user
    who asked for it (``user_id``) is notified of the outcome."""
    run = segment_evaluate(segment_id=segment_id)
    if user_id is not None:
        segment_run_notify(run=run, user_id=user_id)


@shared_task(name="segments.tasks.segments_evaluate_many_task")
def segments_evaluate_many_task(segment_ids: list[int]) -> None:
    """Evaluate several segments in dependency order, sharing their event scans."""
    segments_evaluate_many(segment_ids=segment_ids)


@shared_task(name="segments.tasks.segments_refresh_due_task")
def segments_refresh_due_task() -> None:
    """Queue the segments whose refresh interval has passed (run by beat every minute)."""
    segments_refresh_due()


@shared_task(name="segments.tasks.portrait_base_warm_task")
def portrait_base_warm_task() -> int:
    """Keep the whole base's portrait counts in the cache (run by beat every 5 minutes)."""
    from segments.portrait import portrait_base_warm

    return portrait_base_warm()
