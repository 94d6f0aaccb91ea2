"""The segment form: a name, a slug, a kind, a refresh interval and the rule JSON."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from core.jsonlimits import json_loads
from profiles.models import Tag, ValueTier
from segments.models import Segment
from segments.rules import MAX_NAME, RuleError, parse_rule
from segments.selectors import segment_rule

ERROR_RULE_NOT_JSON = _("The rule is not valid JSON: {error}")
ERROR_SLUG_TAKEN = _("A segment with this slug already exists.")
ERROR_SLUG_RESERVED = _("“{slug}” names a page of the segments section; choose another slug.")
RESERVED_SLUGS = ("new", "preview")  # /segments/new/ and /segments/preview/ are pages


def rule_from_text(text: str):
    """Return the JSON value of ``text``; raise ValueError with a message a user can act on."""
    try:
        return json_loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(str(ERROR_RULE_NOT_JSON).format(error=error)) from None


class SegmentForm(forms.Form):
    """Create or edit a segment; a dynamic segment's rule is checked with ``parse_rule``."""

    name = forms.CharField(label=_("Name"), max_length=200)
    slug = forms.SlugField(
        label=_("Slug"),
        max_length=MAX_NAME,
        allow_unicode=True,
        help_text=_("Letters, digits, “-” or “_”; other rules refer to the segment by it."),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Segment.Kind.choices)
    refresh_minutes = forms.IntegerField(
        label=_("Refresh every (minutes)"),
        required=False,
        min_value=1,
        help_text=_("Leave empty to evaluate only when asked."),
    )
    rule = forms.CharField(
        label=_("Rule (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )

    def __init__(self, *args, segment: Segment | None = None, **kwargs):
        self.segment = segment
        self.rule_tree = None  # the parsed rule once clean() accepted it, for segment_save
        if segment is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": segment.name,
                    "slug": segment.slug,
                    "description": segment.description,
                    "kind": segment.kind,
                    "refresh_minutes": segment.refresh_minutes,
                    "rule": json.dumps(segment.rule, ensure_ascii=False),
                },
            )
        super().__init__(*args, **kwargs)
        if segment is not None:
            # Other segments refer to this one by its slug: it does not change once saved.
            self.fields["slug"].disabled = True

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if self.segment is None and slug in RESERVED_SLUGS:
            raise forms.ValidationError(str(ERROR_SLUG_RESERVED).format(slug=slug))
        taken = Segment.objects.filter(slug=slug)
        if self.segment is not None:
            taken = taken.exclude(pk=self.segment.pk)
        if taken.exists():
            raise forms.ValidationError(ERROR_SLUG_TAKEN)
        return slug

    def clean_rule(self):
        text = self.cleaned_data["rule"].strip()
        if not text:
            return {}
        try:
            return rule_from_text(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") != Segment.Kind.DYNAMIC or "rule" not in cleaned:
            return cleaned
        try:
            self.rule_tree = parse_rule(
                cleaned["rule"], resolve=segment_rule, slug=cleaned.get("slug")
            )
        except RuleError as error:
            self.add_error("rule", str(error))
        return cleaned


class StaticUploadForm(forms.Form):
    """A CSV of external IDs to add to a static segment."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8, with the header “external_id” on the first line."),
    )


class StaticFilterForm(forms.Form):
    """The profile list's filters, whose current result is added to a static segment."""

    q = forms.CharField(label=_("Search"), required=False)
    city = forms.CharField(label=_("City"), required=False)
    tier = forms.ChoiceField(
        label=_("Value tier"),
        required=False,
        choices=[("", "—"), *ValueTier.choices],
    )
    tag = forms.CharField(label=_("Tag"), required=False)


class SegmentTagForm(forms.Form):
    """The tag members of the segment carry (provenance “rule”); empty unbinds."""

    tag = forms.ModelChoiceField(
        label=_("Rule tag"),
        queryset=Tag.objects.all(),
        required=False,
        empty_label=_("— none —"),
    )
