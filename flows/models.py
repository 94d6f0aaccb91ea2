"""Flows: multi-step sequences that react to what a profile does, with their enrollment ledger."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from profiles.models import Profile


class Flow(models.Model):
    """A named sequence of steps: the working copy being edited, and its live version."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LIVE = "live", _("Live")
        PAUSED = "paused", _("Paused")
        ARCHIVED = "archived", _("Archived")

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True, default="")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    # The working copy: what the editor shows and changes. Going live (or saving a live flow)
    # snapshots it into a new FlowVersion; enrollments keep the version they entered.
    definition = models.JSONField(_("definition"), default=dict, blank=True)
    version = models.ForeignKey(
        "FlowVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Why the flow stopped by itself (e.g. a message template no longer validates).
    paused_reason = models.TextField(_("paused because"), blank=True, default="")
    # The live version's trigger, copied here so that an event finds its flows by one index.
    trigger_type = models.CharField(_("trigger"), max_length=20, blank=True, default="")
    trigger_key = models.CharField(_("trigger on"), max_length=200, blank=True, default="")
    transition_cursor = models.BigIntegerField(_("last segment transition read"), default=0)
    stage_cursor = models.BigIntegerField(_("last stage transition read"), default=0)
    dates_done_on = models.DateField(_("date trigger last run on"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("flow")
        verbose_name_plural = _("flows")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "trigger_type", "trigger_key"])]

    def __str__(self):
        return self.name


class FlowVersion(models.Model):
    """An immutable snapshot of a flow's definition, made when it went live or was edited live."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("definition"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("flow version")
        verbose_name_plural = _("flow versions")
        ordering = ["flow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="flowversion_unique_number")
        ]

    def __str__(self):
        return f"{self.flow} v{self.number}"


class FlowMessage(models.Model):
    """The campaign that carries a send step's content in one version (kind ``flow``)."""

    version = models.ForeignKey(FlowVersion, on_delete=models.CASCADE, related_name="messages")
    step_key = models.CharField(_("step"), max_length=40)
    campaign = models.OneToOneField(Campaign, on_delete=models.PROTECT, related_name="flow_message")

    class Meta:
        verbose_name = _("flow message")
        verbose_name_plural = _("flow messages")
        constraints = [
            models.UniqueConstraint(fields=["version", "step_key"], name="flowmessage_unique_step")
        ]

    def __str__(self):
        return f"{self.version} · {self.step_key}"


class Enrollment(models.Model):
    """One profile's pass through a flow version: where it is and when it wakes up next.

    ``wake_at`` is when the engine should look at it again; null while it waits for something
    else (a webhook call in flight). A profile has at most one active enrollment per flow.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("In the flow")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Exited")

    flow = models.ForeignKey(
        Flow, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    version = models.ForeignKey(FlowVersion, on_delete=models.PROTECT, related_name="enrollments")
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="flow_enrollments", db_index=False
    )
    entry = models.PositiveIntegerField(_("entry"), default=1)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    step_key = models.CharField(_("step"), max_length=40, blank=True, default="")
    step_since = models.DateTimeField(_("at this step since"))
    wake_at = models.DateTimeField(_("wakes at"), null=True, blank=True)
    entered_at = models.DateTimeField(_("entered at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    exit_reason = models.CharField(_("exit reason"), max_length=40, blank=True, default="")
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "profile", "entry"], name="enrollment_unique_entry"
            ),
            models.UniqueConstraint(
                fields=["flow", "profile"],
                condition=Q(status="active"),
                name="enrollment_one_active",
            ),
        ]
        indexes = [
            models.Index(
                fields=["wake_at"], condition=Q(status="active"), name="enrollment_due_idx"
            ),
            models.Index(fields=["profile", "status"], name="enrollment_profile_idx"),
            models.Index(fields=["flow", "status", "step_key"], name="enrollment_step_idx"),
        ]

    def __str__(self):
        return f"{self.flow_id}/{self.profile_id}#{self.entry} {self.status} @{self.step_key}"


class StepRun(models.Model):
    """The ledger of steps: one row per (enrollment, step), so a step runs at most once."""

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        PENDING = "pending", _("Waiting for an answer")
        CALLING = "calling", _("Calling")
        FAILED = "failed", _("Failed")

    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, related_name="step_runs", db_index=False
    )
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+", db_index=False)
    step_key = models.CharField(_("step"), max_length=40)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    outcome = models.CharField(_("outcome"), max_length=40, blank=True, default="")
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("step run")
        verbose_name_plural = _("step runs")
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step_key"], name="steprun_once")
        ]
        indexes = [
            models.Index(fields=["flow", "step_key", "status"], name="steprun_stats_idx"),
            models.Index(fields=["status", "at"], name="steprun_status_idx"),
        ]

    def __str__(self):
        return f"{self.enrollment_id}:{self.step_key} {self.status}"
