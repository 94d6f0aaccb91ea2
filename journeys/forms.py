"""Forms of the journey pages: a stage (name, position, entry rule) and the funnel filters."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from core.jsonlimits import json_loads
from journeys.models import JourneyStage
from journeys.selectors import FunnelFilters
from journeys.services import stage_rule_check
from segments.rules import MAX_NAME, MAX_YEAR, MIN_YEAR, RuleError

ERROR_RULE_NOT_JSON = _("The rule is not valid JSON: {error}")
ERROR_SLUG_TAKEN = _("A stage with this slug already exists.")
ERROR_DATES_ORDER = _("The first sign-up day is after the last one.")
ERROR_DATE_YEARS = _("Give a day in the years {low} to {high}.")


def signup_day_check(day):
    """Raise ValidationError for a day too far from today's calendar to compute with."""
    if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
        raise forms.ValidationError(str(ERROR_DATE_YEARS).format(low=MIN_YEAR, high=MAX_YEAR))
    return day


RESERVED_SLUGS = ("new", "funnel", "refresh")  # pages under /journeys/


class StageForm(forms.Form):
    """Create or edit a stage; the entry rule is checked as a segment rule."""

    name = forms.CharField(label=_("Name"), max_length=100)
    slug = forms.SlugField(
        label=_("Slug"),
        max_length=MAX_NAME,
        allow_unicode=True,
        help_text=_("Segment rules refer to the stage by it; it does not change once saved."),
    )
    position = forms.IntegerField(
        label=_("Position"),
        min_value=0,
        max_value=1000,
        help_text=_("Stages are ordered by position; taking another stage's position swaps them."),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    rule = forms.CharField(
        label=_("Entry rule (JSON)"),
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        help_text=_("The segment rule format; the profile enters the stage when it matches."),
    )

    def __init__(self, *args, stage: JourneyStage | None = None, **kwargs):
        self.stage = stage
        if stage is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": stage.name,
                    "slug": stage.slug,
                    "position": stage.position,
                    "active": stage.active,
                    "rule": json.dumps(stage.rule, ensure_ascii=False, indent=2),
                },
            )
        super().__init__(*args, **kwargs)
        if stage is not None:
            self.fields["slug"].disabled = True

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if self.stage is None and slug in RESERVED_SLUGS:
            raise forms.ValidationError(ERROR_SLUG_TAKEN)
        taken = JourneyStage.objects.filter(slug=slug)
        if self.stage is not None:
            taken = taken.exclude(pk=self.stage.pk)
        if taken.exists():
            raise forms.ValidationError(ERROR_SLUG_TAKEN)
        return slug

    def clean_rule(self):
        try:
            rule = json_loads(self.cleaned_data["rule"])
        except json.JSONDecodeError as error:
            raise forms.ValidationError(str(ERROR_RULE_NOT_JSON).format(error=error)) from None
        try:
            stage_rule_check(rule)
        except RuleError as error:
            raise forms.ValidationError(str(error)) from None
        return rule


class FunnelFilterForm(forms.Form):
    """The funnel's filters: a segment, an acquisition channel, a range of sign-up days."""

    segment = forms.SlugField(label=_("Segment"), required=False, allow_unicode=True)
    channel = forms.CharField(label=_("Acquisition channel"), required=False, max_length=50)
    signup_from = forms.DateField(
        label=_("Signed up from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    signup_to = forms.DateField(
        label=_("Signed up until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, segments=(), channels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].widget = forms.Select(
            choices=[("", _("All profiles")), *[(slug, slug) for slug in segments]]
        )
        self.fields["channel"].widget = forms.Select(
            choices=[("", _("All channels")), *[(c, c) for c in channels]]
        )

    def clean_signup_from(self):
        return signup_day_check(self.cleaned_data.get("signup_from"))

    def clean_signup_to(self):
        return signup_day_check(self.cleaned_data.get("signup_to"))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("signup_from"), cleaned.get("signup_to")
        if start and end and start > end:
            raise forms.ValidationError(ERROR_DATES_ORDER)
        return cleaned

    def filters(self) -> FunnelFilters:
        """Return the filters of a valid form."""
        data = self.cleaned_data
        return FunnelFilters(
            segment=data.get("segment") or "",
            channel=data.get("channel") or "",
            signup_from=data.get("signup_from"),
            signup_to=data.get("signup_to"),
        )
