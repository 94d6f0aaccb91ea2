"""Celery tasks of the profiles app: thin wrappers over its services."""

from celery import shared_task

from profiles.services.features import features_refresh
from profiles.services.retention import personal_data_retention_apply
from profiles.services.tags import profile_tags_expire


@shared_task(name="profiles.tasks.features_refresh_task")
def features_refresh_task() -> dict:
    """Recompute every profile's computed features now."""
    return features_refresh()


@shared_task(name="profiles.tasks.profile_tags_expire_task")
def profile_tags_expire_task() -> None:
    profile_tags_expire()


@shared_task(name="profiles.tasks.personal_data_retention_task")
def personal_data_retention_task() -> dict:
    """Delete events and tracking rows older than PERSONAL_DATA_RETENTION_MONTHS."""
    return personal_data_retention_apply()
