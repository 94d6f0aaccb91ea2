"""Background jobs recorded in the database, and worker heartbeats."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.jobs import job_kind_label, job_message_label


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Job(models.Model):
    """A unit of long work: the database row is the record, a broker message only points at it."""

    kind = models.CharField(_("kind"), max_length=100)
    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    progress = models.PositiveBigIntegerField(_("progress"), default=0)
    total = models.PositiveBigIntegerField(_("total"), null=True, blank=True)
    message = models.CharField(_("message"), max_length=255, blank=True, default="")
    error = models.TextField(_("error"), blank=True, default="")
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self):
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def kind_label(self) -> str:
        """Return the kind as people see it, in the current language."""
        return job_kind_label(self.kind)

    @property
    def message_label(self) -> str:
        """Return the progress message as people see it, in the current language."""
        return job_message_label(self.kind, self.message)

    @property
    def percent(self) -> int:
        """Return progress as a whole percentage (0 when the total is unknown)."""
        if self.status == JobStatus.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, int(self.progress * 100 / self.total))


class WorkerHeartbeat(models.Model):
    """The last time a worker ran the heartbeat task: proof that a worker is alive."""

    hostname = models.CharField(_("hostname"), max_length=255, unique=True)
    seen_at = models.DateTimeField(_("seen at"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self):
        return self.hostname


class ApiToken(models.Model):
    """A key for the REST API (``Authorization: Token <key>``), kept only as its SHA-256 digest.

    The key is shown once, when it is made (``core.tokens.api_token_create``); it stops working at
    ``expires_at``, or when it is deleted.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(_("first characters"), max_length=8)
    digest = models.CharField(_("digest"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.prefix}… ({self.user})"


class Notification(models.Model):
    """A note for one user that long work they started finished or failed (a job, a segment
    evaluation, a campaign's send). What it says comes from its ``topic`` and ``params`` in the
    reader's language (``core.notifications``), never a stored sentence."""

    class Level(models.TextChoices):
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    topic = models.CharField(_("topic"), max_length=50)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self):
        return f"{self.topic} {self.level} → {self.user_id}"
