"""Reads for health and jobs."""

from celery import current_app
from django.db import connection
from django.utils import timezone

from core.models import Job, WorkerHeartbeat
from core.sql import ping


def database_status() -> dict:
    """Return whether the database answers a trivial query."""
    try:
        ping()
    except Exception as exc:  # any driver error means "down"; report it
        return {"ok": False, "vendor": connection.vendor, "error": str(exc)}
    return {"ok": True, "vendor": connection.vendor}


def broker_status() -> dict:
    """Return whether the Celery broker accepts a connection."""
    app = current_app  # the project's app: config/__init__.py loads it with Django

    transport = app.conf.broker_url.split("://", 1)[0]
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises many kinds; report any
        return {"ok": False, "transport": transport, "error": str(exc)}
    return {"ok": True, "transport": transport}


def worker_status() -> dict:
    """Return when a worker last ran the heartbeat task."""
    beat = WorkerHeartbeat.objects.order_by("-seen_at").first()
    if beat is None:
        return {"last_seen": None, "age_seconds": None}
    age = (timezone.now() - beat.seen_at).total_seconds()
    return {
        "last_seen": beat.seen_at.isoformat(),
        "age_seconds": round(age, 1),
        "host": beat.hostname,
    }


def jobs_recent(*, user=None, limit: int = 20):
    """Return the most recent jobs, the user's own unless ``user`` is None."""
    jobs = Job.objects.all()
    if user is not None and not user.is_superuser:
        jobs = jobs.filter(created_by=user)
    return jobs[:limit]
