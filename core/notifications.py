"""Notifications: a finished or failed job, evaluation or send, told to the user who started it.

An app names what its notifications say once, from its ``ready()``, as a topic with a text per
level (lazy translations with ``%(name)s`` parameters)::

    notification_topic("segment", done=_("Segment “%(name)s” evaluated: %(size)s members."),
                       failed=_("Segment “%(name)s” could not be evaluated."))

and records one with ``notification_send(user_id=…, topic="segment", level="done", params=…)``.
The row keeps the topic and the parameters, so each reader sees it in their own language.
"""

import logging
from collections.abc import Callable

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.jobs import job_kind_label
from core.models import Notification

logger = logging.getLogger(__name__)

Level = Notification.Level
Text = Callable[[dict], str]

_TOPICS: dict[str, dict[str, Text]] = {}
UNKNOWN_TEXT = _("Something you started has finished.")


def _formatter(template) -> Text:
    def text(params: dict) -> str:
        return str(template) % params

    return text


def notification_topic(topic: str, *, done, failed) -> None:
    """Register what notifications of ``topic`` say: a lazy text or a function of the params."""
    _TOPICS[topic] = {
        level: value if callable(value) and not isinstance(value, str) else _formatter(value)
        for level, value in ((Level.DONE, done), (Level.FAILED, failed))
    }


def notification_text(notification: Notification) -> str:
    """Return what the notification says, in the current language."""
    text = _TOPICS.get(notification.topic, {}).get(notification.level)
    if text is None:
        return str(UNKNOWN_TEXT)
    try:
        return text(notification.params or {})
    except (KeyError, TypeError, ValueError):
        logger.warning("Notification %s has parameters its text cannot use", notification.pk)
        return str(UNKNOWN_TEXT)


def notification_send(
    *, user_id: int | None, topic: str, level: str, params: dict, url: str = ""
) -> Notification | None:
    """Record a notification for ``user_id`` (nothing when no user started the work)."""
    if user_id is None:
        return None
    return Notification.objects.create(
        user_id=user_id, topic=topic, level=level, params=params, url=url[:500]
    )


def notifications_unread_count(*, user) -> int:
    """Return how many notifications ``user`` has not read."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_recent(*, user, limit: int = 8) -> list[Notification]:
    """Return the user's latest notifications, each with its ``text``."""
    rows = list(Notification.objects.filter(user=user)[:limit])
    for row in rows:
        row.text = notification_text(row)
    return rows


def notifications_read(*, user, pk: int | None = None) -> int:
    """Mark one (``pk``) or all of the user's unread notifications read; return how many."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if pk is not None:
        rows = rows.filter(pk=pk)
    return rows.update(read_at=timezone.now())


def _job_text(template) -> Text:
    def text(params: dict) -> str:
        return str(template) % {**params, "what": job_kind_label(params.get("kind", ""))}

    return text


def job_topic_register() -> None:
    """Register the texts of finished and failed jobs (called from CoreConfig.ready())."""
    notification_topic(
        "job",
        done=_job_text(_("%(what)s finished (job #%(job_id)s).")),
        failed=_job_text(_("%(what)s failed (job #%(job_id)s).")),
    )
