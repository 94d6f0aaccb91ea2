"""Campaign forms: the editor (campaign and its variants), the schedule dialog and test sends."""

import datetime as dt
import string
import zoneinfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns.channels import channel_get, channels_all, offered_choices
from campaigns.models import CHOSEN_KINDS, Campaign, Channel
from campaigns.part_fields import PART_SEP, parts_add, parts_clean
from campaigns.services.content import content_check
from campaigns.services.sender import from_email_check
from profiles.services.consent import consent_purposes
from segments.models import Segment

ERROR_BAD_DATETIME = _("Enter a date and time like 2025-03-01 09:30.")
ERROR_BAD_ZONE = _("Choose a time zone from the list.")
ERROR_WEIGHTS_EMPTY = _("Add at least one variant.")


def _segments():
    return Segment.objects.order_by("name")


class CampaignForm(forms.Form):
    """A campaign's name, channel, purpose, audience, split and A/B settings."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=offered_choices)
    purpose = forms.ChoiceField(
        label=_("Consent purpose"),
        choices=consent_purposes,
        initial="marketing",
        help_text=_("Only profiles with consent for this channel and purpose receive it."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=CHOSEN_KINDS)
    include_segments = forms.ModelMultipleChoiceField(
        label=_("Send to"),
        queryset=Segment.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "segment-pick"}),
    )
    exclude_segments = forms.ModelMultipleChoiceField(
        label=_("Leave out"),
        queryset=Segment.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "segment-pick"}),
    )
    trigger_segment = forms.ModelChoiceField(
        label=_("Trigger: on entering segment"), queryset=Segment.objects.none(), required=False
    )
    trigger_stage = forms.CharField(
        label=_("Trigger: journey stage"), max_length=50, required=False
    )
    holdout_percent = forms.IntegerField(
        label=_("Holdout %"),
        min_value=0,
        max_value=50,
        initial=0,
        help_text=_("A control group (0–50 %) that receives nothing; variants share the rest."),
    )
    winner_mode = forms.ChoiceField(label=_("A/B mode"), choices=Campaign.WinnerMode.choices)
    test_percent = forms.IntegerField(
        label=_("Test share %"), min_value=1, max_value=100, initial=20
    )
    winner_delay_hours = forms.IntegerField(label=_("Test window (hours)"), min_value=0, initial=24)
    winner_metric = forms.ChoiceField(
        label=_("Winner metric"), choices=Campaign.WinnerMetric.choices
    )
    winner_fallback = forms.ChoiceField(
        label=_("When no variant wins"), choices=Campaign.WinnerFallback.choices
    )
    from_email = forms.CharField(
        label=pgettext_lazy("email", "From"),
        max_length=200,
        required=False,
        help_text=_("Leave empty for the default sender."),
    )

    def __init__(self, *args, campaign: Campaign | None = None, **kwargs):
        if campaign is not None:
            initial = {
                name: getattr(campaign, name)
                for name in self.base_fields
                if name not in ("include_segments", "exclude_segments")
            }
            initial["include_segments"] = list(campaign.include_segments.all())
            initial["exclude_segments"] = list(campaign.exclude_segments.all())
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for name in ("include_segments", "exclude_segments", "trigger_segment"):
            self.fields[name].queryset = _segments()

    def segment_rows(self) -> list[tuple[Segment, forms.BoundField, forms.BoundField]]:
        """Return (segment, its "send to" box, its "leave out" box) for each segment."""
        segments = list(self.fields["include_segments"].queryset)
        return list(zip(segments, self["include_segments"], self["exclude_segments"], strict=True))

    def step_fields(self, step: str) -> list[forms.BoundField]:
        """Return the fields the composer shows in ``step`` (see STEP_FIELDS)."""
        return [self[name] for name in STEP_FIELDS[step]]

    def clean_from_email(self):
        value = self.cleaned_data.get("from_email", "")
        error = from_email_check(value)
        if error:
            raise ValidationError(error)
        return value


# Which of CampaignForm's fields each step of the composer shows (the segments have their own
# table in the audience step; the review is a page of its own).
STEP_FIELDS = {
    "audience": ("name", "description", "channel", "holdout_percent"),
    "content": (
        "winner_mode",
        "test_percent",
        "winner_delay_hours",
        "winner_metric",
        "winner_fallback",
        "from_email",
    ),
    "guards": ("purpose", "kind", "trigger_segment", "trigger_stage"),
}


class VariantForm(forms.Form):
    """One variant: a key, a weight and its content, checked with the template sandbox."""

    key = forms.CharField(label=_("Key"), max_length=10, required=False)
    name = forms.CharField(label=_("Label"), max_length=100, required=False)
    weight = forms.IntegerField(label=_("Weight"), min_value=1, max_value=1000, initial=50)
    subject = forms.CharField(label=_("Subject"), max_length=300, required=False)
    body_text = forms.CharField(
        label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    body_html = forms.CharField(
        label=_("HTML"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )

    def __init__(self, *args, channel: str = Channel.EMAIL, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.parted = parts_add(self, initial_channel=channel)
        self.fields["body_text"].widget.attrs.update(
            {
                "hx-post": reverse_lazy("campaigns:sms-length"),
                "hx-trigger": "load, input changed delay:300ms",
                "hx-target": f"#sms-length-{self.prefix}",
                "hx-swap": "innerHTML",
                "hx-include": "this, [name='purpose']",
            }
        )

    def clean(self):
        data = super().clean()
        if self.channel in self.parted:
            data["fields"] = parts_clean(self, self.parted[self.channel])
            return data
        data["fields"] = {}
        errors = content_check(
            channel=self.channel,
            subject=data.get("subject", ""),
            body_text=data.get("body_text", ""),
            body_html=data.get("body_html", ""),
            complete=False,
        )
        for field, message in errors.items():
            self.add_error(field, message)
        return data

    def channel_parts(self) -> list[tuple[str, list[forms.BoundField]]]:
        """Return (channel key, its part fields) for each channel with parts, for the template."""
        return [(key, [self[name] for name in names]) for key, names in self.parted.items()]

    def column_channels(self) -> str:
        """Return the keys of the channels whose content is the subject, text and HTML."""
        return " ".join(key for key, spec in channels_all().items() if not spec.content)


class BaseVariantFormSet(forms.BaseFormSet):
    """Variants of one campaign: blank keys get the next free letter; deleted ones drop out."""

    def variants(self) -> list[dict]:
        """Return the kept variants as dicts for the workflow services."""
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.has_changed() or form.initial
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        used = {row["key"] for row in kept if row.get("key")}
        free = (letter for letter in string.ascii_uppercase if letter not in used)
        variants = []
        for row in kept:
            row = {k: v for k, v in row.items() if k != "DELETE" and PART_SEP not in k}
            row["key"] = row.get("key") or next(free)
            variants.append(row)
        return variants

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if not self.variants():
            raise ValidationError(ERROR_WEIGHTS_EMPTY)


MAX_VARIANTS = 26  # A to Z, as the API allows
# A posted form count is capped at MAX_VARIANTS (Django would build up to 1,000 forms + max).
VariantFormSet = forms.formset_factory(
    VariantForm,
    formset=BaseVariantFormSet,
    extra=1,
    can_delete=True,
    max_num=MAX_VARIANTS,
    absolute_max=MAX_VARIANTS,
    validate_max=True,
)


def time_zone_choices() -> list[tuple[str, str]]:
    """Return the IANA time zones, the configured one first."""
    zones = sorted(zoneinfo.available_timezones() - {settings.TIME_ZONE})
    return [(zone, zone) for zone in [settings.TIME_ZONE, "UTC", *zones] if zone]


class ScheduleForm(forms.Form):
    """When to send: a local date and time in a chosen time zone (stored as aware UTC)."""

    send_at = forms.CharField(
        label=_("Send at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = time_zone_choices()
        self.fields["time_zone"].choices = list(dict.fromkeys(choices))
        self.fields["time_zone"].initial = settings.TIME_ZONE

    def clean(self):
        data = super().clean()
        text, zone = data.get("send_at"), data.get("time_zone")
        if not text or not zone:
            return data
        try:
            local = dt.datetime.fromisoformat(text.strip().replace(" ", "T"))
        except ValueError:
            self.add_error("send_at", ERROR_BAD_DATETIME)
            return data
        try:
            tz = zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.add_error("time_zone", ERROR_BAD_ZONE)
            return data
        if local.tzinfo is None:
            local = local.replace(tzinfo=tz)
        data["send_at_utc"] = local.astimezone(dt.UTC)
        return data


class TestSendForm(forms.Form):
    """Send one message of a variant to a typed address or number, optionally as a profile."""

    variant = forms.ChoiceField(label=_("Variant"), choices=())
    to = forms.CharField(label=_("To (email or phone)"), max_length=254)
    external_id = forms.CharField(
        label=_("As profile (external ID)"),
        max_length=128,
        required=False,
        help_text=_("Leave empty to use sample values."),
    )

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        if campaign.channel not in ("email", "sms"):
            label = channel_get(campaign.channel).address_label
            self.fields["to"].label = _("To (%(address)s)") % {"address": label}
        self.fields["variant"].choices = [
            (v.key, f"{v.key} {v.name}".strip()) for v in campaign.variants.all()
        ]
