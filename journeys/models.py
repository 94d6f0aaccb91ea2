"""Journey stages (ordered, each with an entry rule) and the log of every move between them."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from profiles.models import Profile


class JourneyStage(models.Model):
    """One step of the journey: a profile is in the furthest active stage whose rule it meets.

    The slug never changes once saved: profiles store it (``Profile.stage``), transitions point
    at it and segment rules name it (``{"stage": "<slug>", "op": "reached"}``). A stage is never
    deleted, only made inactive.
    """

    slug = models.SlugField(_("slug"), max_length=64, unique=True, allow_unicode=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(
        _("position"), unique=True, help_text=_("Stages are ordered by it, the first is lowest.")
    )
    # The entry rule, in the segment rule format (segments.rules); stage conditions are refused.
    rule = models.JSONField(_("entry rule"), default=dict)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive stages take in no new profiles.")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("journey stage")
        verbose_name_plural = _("journey stages")
        ordering = ["position"]

    def __str__(self):
        return self.name or self.slug

    def clean(self):
        """Refuse an entry rule that is invalid, names an unknown segment or refers to stages."""
        from journeys.services import stage_rule_check

        try:
            stage_rule_check(self.rule)
        except ValueError as error:
            raise ValidationError({"rule": str(error)}) from None


class StageTransition(models.Model):
    """A profile moving into a stage, from the stage it was in (none for its first).

    Rows are only ever added, with increasing ids: a reader that remembers the last id it saw
    (a campaign triggered by entering a stage) gets every later entry exactly once.
    """

    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="stage_transitions", db_index=False
    )
    from_stage = models.ForeignKey(
        JourneyStage,
        to_field="slug",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("from stage"),
        db_index=False,
    )
    to_stage = models.ForeignKey(
        JourneyStage,
        to_field="slug",
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("to stage"),
        db_index=False,
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("stage transition")
        verbose_name_plural = _("stage transitions")
        indexes = [
            models.Index(fields=["profile", "at"], name="stagetransition_profile_at"),
            models.Index(fields=["to_stage", "at"], name="stagetransition_to_at"),
        ]

    def __str__(self):
        return f"{self.profile_id}: {self.from_stage_id or '∅'} → {self.to_stage_id}"
