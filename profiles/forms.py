"""Forms of the profiles app: they check input shape; services check the domain rules."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from profiles.models import ConsentChannel, ConsentStatus, Tag, TagCategory, ValueTier
from profiles.services.consent import ERROR_REASON_REQUIRED, consent_purposes
from profiles.services.tags import ACTION_ADD, ACTION_REMOVE, DEFAULT_COLOUR, ERROR_EXPIRY_PAST


class TagChoiceField(forms.ModelChoiceField):
    """Choose a tag by its slug, shown as “category · label”."""

    def __init__(self, **kwargs):
        super().__init__(
            queryset=Tag.objects.select_related("category"), to_field_name="slug", **kwargs
        )

    def label_from_instance(self, obj: Tag) -> str:
        return f"{obj.category.label} · {obj.label}"


class TagCategoryForm(forms.Form):
    slug = forms.CharField(
        label=_("Slug"),
        max_length=50,
        help_text=_("Latin letters, digits, hyphens and underscores, e.g. “interests”."),
    )
    label = forms.CharField(label=_("Label"), max_length=100)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    position = forms.IntegerField(label=_("Position"), min_value=0, max_value=32767, initial=0)


class TagForm(forms.Form):
    category = forms.ModelChoiceField(label=_("Category"), queryset=TagCategory.objects.all())
    slug = forms.CharField(
        label=_("Slug"),
        max_length=64,
        help_text=_(
            "Letters of any script, digits, hyphens and underscores, e.g. “coupon-lover” or "
            "“咖啡爱好者”. Segment rules refer to tags by slug."
        ),
    )
    label = forms.CharField(label=_("Label"), max_length=100)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    colour = forms.CharField(
        label=_("Colour"),
        max_length=7,
        initial=DEFAULT_COLOUR,
        widget=forms.TextInput(attrs={"type": "color"}),
    )


class ProfileFilterForm(forms.Form):
    """The profile list's filters, plus the tag the profiles carry."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("ID, email, phone or name")}
        ),
    )
    city = forms.CharField(label=_("City"), required=False)
    tier = forms.ChoiceField(
        label=_("Value tier"), required=False, choices=[("", _("Any")), *ValueTier.choices]
    )
    tag = TagChoiceField(label=_("Carrying tag"), required=False, empty_label=_("Any"))

    def filters(self) -> dict[str, str]:
        """Return the cleaned filters as keyword arguments of ``profile_filter``."""
        data = self.cleaned_data
        return {
            "query": data["q"],
            "city": data["city"],
            "tier": data["tier"],
            "tag": data["tag"].slug if data["tag"] else "",
        }


class BulkTagForm(ProfileFilterForm):
    """Filters choosing profiles, the tag to add or remove, and an optional expiry."""

    target = TagChoiceField(label=_("Tag to add or remove"))
    expires_at = forms.DateTimeField(
        label=_("Expires at (optional, when adding)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    action = forms.ChoiceField(
        choices=[(ACTION_ADD, _("Add tag")), (ACTION_REMOVE, _("Remove tag"))],
        widget=forms.HiddenInput,
    )

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise ValidationError(ERROR_EXPIRY_PAST)
        return expires_at


IMPORT_KINDS = [("profiles", _("Profiles")), ("events", _("Events"))]


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=IMPORT_KINDS)
    file = forms.FileField(label=_("CSV file (UTF-8, header row)"))


class ConsentSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find a profile"),
        required=False,
        max_length=254,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("External ID, email or phone")}
        ),
    )


class ConsentRecordForm(forms.Form):
    """A grant or withdrawal recorded by a consent admin, who must say why."""

    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentChannel.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=consent_purposes)
    status = forms.ChoiceField(label=_("Status"), choices=ConsentStatus.choices)
    notice_version = forms.CharField(
        label=_("Notice version"),
        max_length=100,
        required=False,
        help_text=_("The version of the wording the person agreed to or refused."),
    )
    evidence = forms.CharField(
        label=_("Evidence"),
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("E.g. the reference of the letter, call or ticket."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": ERROR_REASON_REQUIRED},
    )


class ConsentUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file (UTF-8, header row)"))
