"""What profiles, events and tags look like in the API, and how its input is read."""

import decimal
import re
from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import Refused, moment_utc
from core.fields import (
    DECLARED_FIELDS,
    FEATURE_FIELDS,
    IMPORTED_FIELDS,
    LISTED_FIELDS,
    RECORD_FIELDS,
)
from core.masking import email_masked, identifier_masked, phone_masked
from profiles.ingest import (
    ERROR_PROPERTIES_OBJECT,
    RowError,
    RowInvalid,
    clean_profile_row,
)
from profiles.models import (
    IDENTIFIER_FIELDS,
    ConsentChannel,
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Event,
    Profile,
    ProfileTag,
    Tag,
    TagCategory,
    Touchpoint,
)
from profiles.services.consent import ConsentEntry, consent_entry_check

MAX_EVENTS_PER_BATCH = 10_000

ERROR_NOT_A_LIST = _("Send a JSON list of events, not {kind}.")
ERROR_EMPTY_BATCH = _("Send at least one event.")
ERROR_BATCH_TOO_LARGE = _(
    "Send at most {limit} events per request ({count} were sent); split the batch."
)
ERROR_NOT_TEXT = _("{field} must be a string")
ERROR_AMOUNT_TYPE = _("amount must be a number or a string holding one")
ERROR_EXTERNAL_ID_FIXED = _("external_id is taken from the URL and cannot be changed here.")

EVENT_TEXT_FIELDS = (
    "external_id",
    "name",
    "occurred_at",
    "event_id",
    "channel",
    *IDENTIFIER_FIELDS,
)
_SURROGATE = re.compile("[\ud800-\udfff]")
CENT = decimal.Decimal("0.01")


# --------------------------------------------------------------------------- tags


class TagCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = TagCategory
        fields = ["slug", "label"]


class TagSerializer(serializers.ModelSerializer):
    category = TagCategorySerializer(read_only=True)

    class Meta:
        model = Tag
        fields = ["slug", "label", "description", "colour", "category"]


class ProfileTagSerializer(serializers.ModelSerializer):
    """A tag on a profile, with its provenance, when it was set and until when."""

    slug = serializers.CharField(source="tag.slug", read_only=True)
    label = serializers.CharField(source="tag.label", read_only=True)
    category = serializers.CharField(source="tag.category.slug", read_only=True)

    class Meta:
        model = ProfileTag
        fields = ["slug", "label", "category", "provenance", "set_at", "expires_at"]


# --------------------------------------------------------------------------- profiles

# The declared fields a list shows, and those only a profile in full shows.
PROFILE_CORE_FIELDS = [name for name in LISTED_FIELDS if name in DECLARED_FIELDS]
PROFILE_MORE_FIELDS = [name for name in DECLARED_FIELDS if name not in LISTED_FIELDS]


# The contact data masked for readers who may not see it, with the mask of each.
CONTACT_MASKS = (
    ("email", email_masked),
    ("phone", phone_masked),
    *((name, identifier_masked) for name in IDENTIFIER_FIELDS),
)


class ContactMasked:
    """Mask the email address, phone number and platform identifiers unless the context says
    the reader may see them (``contact_visible``: consent admins; ``core.masking``)."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("contact_visible", False):
            for name, mask in CONTACT_MASKS:
                if data.get(name):
                    data[name] = mask(data[name])
        return data


class ProfileSerializer(ContactMasked, serializers.ModelSerializer):
    """A profile in a list: core fields, value tier and when it was last seen (email and phone
    masked for every role but consent admins)."""

    class Meta:
        model = Profile
        fields = list(LISTED_FIELDS)
        read_only_fields = fields


# Fields that apps above profiles add to the profile detail (predictions' scores …), each made
# by a function returning a read-only serializer field; registered from their ``ready()``.
DETAIL_FIELDS: dict[str, Callable[[], serializers.Field]] = {}


def profile_detail_field(name: str, field: Callable[[], serializers.Field]) -> None:
    """Add (or replace) the read-only field ``name`` of the profile detail."""
    DETAIL_FIELDS[name] = field


class ProfileDetailSerializer(ContactMasked, serializers.ModelSerializer):
    """A profile in full: core fields, traits, computed features (RFM …), tags and the fields
    other apps registered with ``profile_detail_field`` (email and phone masked for every role
    but consent admins)."""

    tags = ProfileTagSerializer(source="profile_tags", many=True, read_only=True)

    def get_fields(self):
        fields = super().get_fields()
        for name, make in DETAIL_FIELDS.items():
            fields[name] = make()
        return fields

    class Meta:
        model = Profile
        fields = [
            *PROFILE_CORE_FIELDS, *PROFILE_MORE_FIELDS, *FEATURE_FIELDS, "tags",
            *RECORD_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.DATE)
class DateText(serializers.CharField):
    """A date as text (YYYY-MM-DD), validated by the ingest service."""


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentText(serializers.CharField):
    """An ISO 8601 date or date-time as text, validated by the ingest service."""


def _text(**kwargs):
    return serializers.CharField(required=False, allow_blank=True, **kwargs)


class ProfileChangeSerializer(serializers.Serializer):
    """Fields of a profile to set; missing or empty ones keep what is stored (as the import)."""

    email = _text(max_length=254)
    phone = _text(max_length=32, help_text=_("E.164, or a national number of the default region"))
    name = _text(max_length=200)
    gender = _text(
        max_length=20, help_text=_("female, male, other or unknown (f, m, 女, 男 … are accepted)")
    )
    birth_date = DateText(required=False, allow_blank=True, max_length=20)
    city = _text(max_length=100)
    region = _text(max_length=100)
    signup_at = MomentText(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text=_("ISO 8601; a date alone is midnight and a time without offset is local"),
    )
    wechat_openid = _text(
        max_length=64, help_text=_("The openid of our WeChat Official Account for this person")
    )
    wechat_unionid = _text(
        max_length=64,
        help_text=_("The WeChat unionid; it belongs to one profile (a clash is a 400)"),
    )
    wecom_external_userid = _text(max_length=64, help_text=_("The WeCom external contact's ID"))
    traits = serializers.DictField(
        required=False, help_text=_("Custom attributes, merged into the stored ones")
    )

    def get_fields(self):
        """Add, as text, any importable field of the catalogue not declared above."""
        fields = super().get_fields()
        for name in IMPORTED_FIELDS:
            if name not in fields:
                fields[name] = _text(max_length=Profile._meta.get_field(name).max_length)
        return fields

    def validate(self, attrs):
        """Check each field with the import's own rules, so the error names the field."""
        fixed = self.context.get("external_id")
        sent = self.initial_data.get("external_id") if isinstance(self.initial_data, dict) else None
        if fixed is not None and sent is not None and sent != fixed:
            raise serializers.ValidationError({"external_id": [ERROR_EXTERNAL_ID_FIXED]})
        errors = {}
        for field, value in attrs.items():
            row = {"external_id": attrs.get("external_id") or "-", field: value}
            try:
                clean_profile_row(row)
            except RowInvalid as exc:
                errors[field] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ProfileUpsertSerializer(ProfileChangeSerializer):
    """A profile to create or update, found by its external_id."""

    external_id = serializers.CharField(min_length=1, max_length=128)


# --------------------------------------------------------------------------- events


class EventSerializer(serializers.ModelSerializer):
    """A stored event, with the external_id of its profile."""

    external_id = serializers.CharField(read_only=True)
    event_id = serializers.SerializerMethodField(
        help_text=_("The event_id it was sent with (null when it had none)")
    )

    class Meta:
        model = Event
        fields = [
            "id", "external_id", "event_id", "name", "channel", "occurred_at", "amount",
            "properties", "received_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_event_id(self, event) -> str | None:
        return event.key[3:] if event.key.startswith("id:") else None


class EventInSerializer(serializers.Serializer):
    """One event of a batch (documents the request; items are checked by the ingest service)."""

    external_id = serializers.CharField(
        required=False,
        min_length=1,
        max_length=128,
        help_text=_("Unknown ones are created; may be left out when an identifier below is given"),
    )
    wechat_unionid = serializers.CharField(
        required=False, max_length=64, help_text=_("Finds (or makes) the profile holding it")
    )
    wechat_openid = serializers.CharField(required=False, max_length=64)
    wecom_external_userid = serializers.CharField(required=False, max_length=64)
    name = serializers.CharField(min_length=1, max_length=64)
    occurred_at = MomentText(
        max_length=40, help_text=_("ISO 8601; a date alone means midnight in the local time zone")
    )
    event_id = serializers.CharField(
        required=False, max_length=100, help_text=_("Idempotency key; without it, the content")
    )
    amount = serializers.DecimalField(
        required=False, allow_null=True, max_digits=14, decimal_places=2, coerce_to_string=False
    )
    channel = serializers.ChoiceField(choices=Touchpoint.choices, required=False)
    properties = serializers.DictField(required=False, allow_null=True)


class EventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("0-based position of the item in the list"))
    message = serializers.CharField()


class EventBatchReportSerializer(serializers.Serializer):
    """What a batch did: items read, events stored, repeats, refusals (with reasons)."""

    read = serializers.IntegerField()
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text=_("Events already stored (repeats)"))
    refused = serializers.IntegerField()
    profiles_created = serializers.IntegerField()
    errors = EventErrorSerializer(many=True)


class BatchRefused(Refused):
    """The request body is not a list of 1 to MAX_EVENTS_PER_BATCH events."""


def _event_item(item: dict) -> dict:
    """Return the item ready for the import, or raise RowInvalid naming its faulty field."""
    for field in EVENT_TEXT_FIELDS:
        value = item.get(field)
        if value is not None and not isinstance(value, str):
            raise RowInvalid(ERROR_NOT_TEXT, field=field)
    amount = item.get("amount")
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int | float | str)
    ):
        raise RowInvalid(ERROR_AMOUNT_TYPE)
    properties = item.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise RowInvalid(ERROR_PROPERTIES_OBJECT, kind=type(properties).__name__)
    return item


def event_batch_rows(data) -> tuple[list[tuple[int, dict]], list[RowError]]:
    """Return the (index, item) rows fit for the ingest service and the items refused here.

    Raise BatchRefused when ``data`` is not a list of 1 to MAX_EVENTS_PER_BATCH items.
    """
    if not isinstance(data, list):
        kind = "an object" if isinstance(data, dict) else type(data).__name__
        raise BatchRefused(ERROR_NOT_A_LIST.format(kind=kind))
    if not data:
        raise BatchRefused(ERROR_EMPTY_BATCH)
    if len(data) > MAX_EVENTS_PER_BATCH:
        raise BatchRefused(
            ERROR_BATCH_TOO_LARGE.format(limit=MAX_EVENTS_PER_BATCH, count=len(data))
        )
    rows, refused = [], []
    for index, item in enumerate(data):
        try:
            rows.append((index, _event_item(item) if isinstance(item, dict) else item))
        except RowInvalid as exc:  # items that are not objects are refused by the service
            refused.append(RowError(index, str(exc)))
    return rows, refused


# --------------------------------------------------------------------------- consent

ERROR_CONSENT_UNKNOWN_PROFILE = _("No profile has this external ID; consents never create one.")


EVIDENCE_FIELDS = ("evidence_ip", "evidence_user_agent", "evidence", "reason")


class ConsentSerializer(serializers.ModelSerializer):
    """A consent record of the append-only ledger; its evidence (IP address, user agent, text)
    and reason only for consent admins, as on the screens (null for other roles)."""

    external_id = serializers.CharField(source="profile.external_id", read_only=True)
    evidence_ip = serializers.IPAddressField(
        read_only=True, allow_null=True, help_text=_("Null unless you are a consent admin")
    )
    evidence_user_agent = serializers.CharField(
        read_only=True, allow_null=True, help_text=_("Null unless you are a consent admin")
    )
    evidence = serializers.CharField(
        read_only=True, allow_null=True, help_text=_("Null unless you are a consent admin")
    )
    reason = serializers.CharField(
        read_only=True, allow_null=True, help_text=_("Null unless you are a consent admin")
    )
    recorded_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        help_text=_("The user who recorded it (null for end users' own actions)"),
    )

    class Meta:
        model = ConsentRecord
        fields = [
            "id", "external_id", "channel", "purpose", "status", "recorded_at", "source",
            "notice_version", "evidence_ip", "evidence_user_agent", "evidence", "recorded_by",
            "reason", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("evidence_visible", False):
            data.update(dict.fromkeys(EVIDENCE_FIELDS))
        return data


def _optional_text(max_length: int, **kwargs):
    return serializers.CharField(
        required=False, allow_blank=True, default="", max_length=max_length, **kwargs
    )


class ConsentInSerializer(serializers.Serializer):
    """A grant, withdrawal or denial to append to the ledger."""

    external_id = serializers.CharField(
        min_length=1, max_length=128, help_text=_("An existing profile")
    )
    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    purpose = serializers.CharField(
        min_length=1,
        max_length=40,
        help_text=_("marketing, profiling or a purpose of CONSENT_EXTRA_PURPOSES"),
    )
    status = serializers.ChoiceField(choices=ConsentStatus.choices)
    source = serializers.ChoiceField(
        choices=ConsentSource.choices, required=False, default=ConsentSource.API
    )
    recorded_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("When it was given (ISO 8601); now when left out. Never in the future."),
    )
    notice_version = _optional_text(100)
    evidence_ip = serializers.IPAddressField(required=False, allow_null=True, default=None)
    evidence_user_agent = _optional_text(500)
    evidence = _optional_text(10_000)
    reason = _optional_text(2000, help_text=_("Required when source is admin"))

    def validate_recorded_at(self, value):
        return moment_utc(value)

    def validate(self, attrs):
        """Find the profile and check the entry with the consent service's own rules."""
        profile_id = (
            Profile.objects.filter(external_id=attrs["external_id"])
            .values_list("pk", flat=True)
            .first()
        )
        if profile_id is None:
            raise serializers.ValidationError({"external_id": [ERROR_CONSENT_UNKNOWN_PROFILE]})
        entry = ConsentEntry(
            profile_id=profile_id,
            **{key: value for key, value in attrs.items() if key != "external_id"},
        )
        try:
            consent_entry_check(entry)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return {**attrs, "entry": entry}
