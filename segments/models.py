"""Segments, their versioned membership and the record of every evaluation run."""

import copy

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from profiles.models import Profile


class Segment(models.Model):
    """A named rule (dynamic) or a list of profiles (static), with its last evaluation."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic (rule)")
        STATIC = "static", _("Static (list)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        QUEUED = "queued", _("Queued")
        EVALUATING = "evaluating", _("Evaluating")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=64, unique=True, allow_unicode=True)
    description = models.TextField(_("description"), blank=True, default="")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    # The rule JSON (contract in PRODUCT.md, parsed by segments.rules); {} for a static list.
    rule = models.JSONField(_("rule"), default=dict, blank=True)
    refresh_minutes = models.PositiveIntegerField(
        _("refresh every (minutes)"),
        null=True,
        blank=True,
        default=60,
        help_text=_("Leave empty to evaluate only when asked."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    version = models.PositiveIntegerField(_("version"), default=0)
    size = models.PositiveIntegerField(_("size"), default=0)
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(_("last run took (ms)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    # Members carry this tag with provenance "rule" while they are in the segment.
    tag = models.ForeignKey(
        "profiles.Tag",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bound_segments",
        verbose_name=_("rule tag"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self):
        return self.name or self.slug

    def rule_checked(self, tree) -> None:
        """Note that the current rule (with the current slug) parsed into ``tree``.

        ``clean()`` then trusts it instead of parsing again, as long as neither has changed.
        """
        self._checked = (copy.deepcopy(self.rule), self.slug, tree)

    def clean(self):
        """Refuse a dynamic segment whose rule is invalid or refers back to this segment."""
        from segments.rules import RuleError, parse_rule
        from segments.selectors import segment_rule

        if self.kind != self.Kind.DYNAMIC:
            return
        checked = getattr(self, "_checked", None)
        if checked is not None and checked[:2] == (self.rule, self.slug):
            return
        try:
            parse_rule(self.rule, resolve=segment_rule, slug=self.slug or None)
        except RuleError as error:
            raise ValidationError({"rule": str(error)}) from None


class SegmentMembership(models.Model):
    """A profile in a segment: since when, and from which version of the segment."""

    # Indexed through the unique (segment, profile) constraint and the (profile, segment) index.
    # No foreign-key constraint in the database (``db_constraint=False``, here and on
    # SegmentTransition): an evaluation writes tens of thousands of rows in one INSERT … SELECT,
    # and PostgreSQL checks a constraint row by row (a lock on each profile), which cost more
    # than the rule's query. Deleting a profile or a segment through the ORM still deletes these
    # rows (Django's CASCADE), a merge moves them, and an evaluation removes a member whose
    # profile is gone (tests/segments/test_integrity.py). Not covered: a profile deleted while
    # an evaluation that selected it is writing keeps an entry transition (and its membership
    # until that segment's next evaluation), where a constraint made the evaluation fail.
    segment = models.ForeignKey(
        Segment,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
        db_constraint=False,
    )
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="segment_memberships",
        db_index=False,
        db_constraint=False,
    )
    since = models.DateTimeField(_("member since"), default=timezone.now)
    version_added = models.PositiveIntegerField(_("added in version"), default=0)

    class Meta:
        verbose_name = _("segment membership")
        verbose_name_plural = _("segment memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "profile"], name="segmentmembership_unique_segment_profile"
            )
        ]
        indexes = [models.Index(fields=["profile", "segment"])]

    def __str__(self):
        return f"{self.segment} · {self.profile}"


class SegmentRun(models.Model):
    """One evaluation of a segment: when, how long, the resulting size and who moved."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="runs")
    version = models.PositiveIntegerField(_("version"), default=0)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    size = models.PositiveIntegerField(_("size"), null=True, blank=True)
    entered = models.PositiveIntegerField(_("entered"), null=True, blank=True)
    exited = models.PositiveIntegerField(_("exited"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        verbose_name = _("segment run")
        verbose_name_plural = _("segment runs")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["segment", "-started_at"])]

    def __str__(self):
        return f"{self.segment} v{self.version} @ {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration_ms(self) -> int | None:
        """Return how long the run took in milliseconds, or None while it runs."""
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


class SegmentTransition(models.Model):
    """A profile entering or leaving a segment in one evaluation: what triggers react to."""

    # No foreign-key constraint in the database: see SegmentMembership.
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="transitions", db_constraint=False
    )
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="segment_transitions",
        db_constraint=False,
    )
    entered = models.BooleanField(_("entered"))  # False: left
    version = models.PositiveIntegerField(_("version"))
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("segment transition")
        verbose_name_plural = _("segment transitions")
        indexes = [models.Index(fields=["segment", "version"])]

    def __str__(self):
        return f"{self.segment} {'+' if self.entered else '-'}{self.profile_id} v{self.version}"
