"""Profiles, their events, the tag taxonomy and tags on profiles."""

import functools
import operator

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from phonenumber_field.modelfields import PhoneNumberField


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class Touchpoint(models.TextChoices):
    WEB = "web", _("Web")
    APP = "app", _("App")
    STORE = "store", _("Store")
    CONSULTATION = "consultation", _("Consultation")
    COMMUNITY = "community", _("Community")
    MINI_PROGRAM = "mini_program", _("Mini-program")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    OTHER = "other", _("Other")


# Each touchpoint's bit in Profile.touchpoints (new touchpoints take the next bit, never reuse one).
TOUCHPOINT_BITS = {value: 1 << index for index, value in enumerate(Touchpoint.values)}
TOUCHPOINT_DAYS = 90  # Profile.touchpoints holds the touchpoints of events this recent


# The platform identifiers of a profile, in the order identity stitching trusts them.
IDENTIFIER_FIELDS = ("wechat_unionid", "wechat_openid", "wecom_external_userid")


class ValueTier(models.TextChoices):
    HIGH = "high", _("High value")
    MID = "mid", _("Mid value")
    MASS = "mass", _("Mass")


class Profile(models.Model):
    """One end user, with core fields, free-form traits and computed features."""

    # Unique through Meta.constraints, so PostgreSQL keeps one index (no extra LIKE index).
    external_id = models.CharField(_("external ID"), max_length=128)
    email = models.EmailField(_("email"), blank=True, default="")
    phone = PhoneNumberField(_("phone"), blank=True, default="")
    name = models.CharField(pgettext_lazy("person", "name"), max_length=200, blank=True, default="")
    gender = models.CharField(
        _("gender"), max_length=10, choices=Gender.choices, default=Gender.UNKNOWN
    )
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True, default="")
    region = models.CharField(_("region"), max_length=100, blank=True, default="")
    signup_at = models.DateTimeField(_("signed up at"), null=True, blank=True)
    channel = models.CharField(_("acquisition channel"), max_length=50, blank=True, default="")
    # The person's identifiers on the messaging platforms (profiles.identity stitches by them):
    # the openid of our WeChat Official Account, the unionid shared by every app of our WeChat
    # Open Platform account (one profile holds a unionid) and the WeCom external contact id.
    wechat_openid = models.CharField(_("WeChat openid"), max_length=64, blank=True, default="")
    wechat_unionid = models.CharField(_("WeChat unionid"), max_length=64, blank=True, default="")
    wecom_external_userid = models.CharField(
        _("WeCom external user ID"), max_length=64, blank=True, default=""
    )
    traits = models.JSONField(_("traits"), default=dict, blank=True)

    # Computed features, written by the feature refresh (never by hand).
    recency_days = models.IntegerField(_("recency (days)"), null=True, blank=True)
    frequency = models.IntegerField(_("frequency"), default=0)
    monetary = models.DecimalField(_("monetary"), max_digits=14, decimal_places=2, default=0)
    r_score = models.PositiveSmallIntegerField(_("R score"), null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(_("F score"), null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(_("M score"), null=True, blank=True)
    value_tier = models.CharField(
        _("value tier"), max_length=10, choices=ValueTier.choices, blank=True, default=""
    )
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True)
    first_purchase_at = models.DateTimeField(_("first purchase at"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase at"), null=True, blank=True)
    features_at = models.DateTimeField(_("features refreshed at"), null=True, blank=True)
    # The touchpoints of the profile's events in the TOUCHPOINT_DAYS before features_at, one
    # bit each (TOUCHPOINT_BITS): portraits count them without reading the events.
    touchpoints = models.PositiveIntegerField(_("recent touchpoints"), default=0)
    # The journey stage (a stage slug, "" before any), written only by the journeys app's
    # stage refresh; segment rules read it through their "stage" condition.
    stage = models.CharField(
        _("journey stage"), max_length=64, blank=True, default="", db_index=True
    )
    stage_entered_at = models.DateTimeField(_("stage entered at"), null=True, blank=True)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="profile_unique_external_id"),
            models.UniqueConstraint(
                fields=["wechat_unionid"],
                condition=~models.Q(wechat_unionid=""),
                name="profile_unique_wechat_unionid",
            ),
        ]
        indexes = [
            # Filter, then newest first: the list's keyset pages read these in order.
            models.Index(fields=["city", "-id"], name="profile_city_newest_idx"),
            models.Index(fields=["value_tier", "-id"], name="profile_tier_newest_idx"),
            models.Index(fields=["signup_at"]),
            models.Index(fields=["email"]),
            models.Index(fields=["phone"]),
            # Identity stitching finds profiles by each platform identifier (exact values only,
            # hence plain indexes rather than db_index's extra LIKE index on PostgreSQL).
            models.Index(fields=["wechat_openid"], name="profile_wechat_openid_idx"),
            models.Index(fields=["wechat_unionid"], name="profile_wechat_unionid_idx"),
            models.Index(fields=["wecom_external_userid"], name="profile_wecom_userid_idx"),
            models.Index(fields=["last_seen_at"]),
            # The search box matches name prefixes; pattern ops make LIKE 'x%' use the index
            # under any collation on PostgreSQL (other databases ignore opclasses).
            models.Index(
                fields=["name"], name="profile_name_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self):
        return self.name or self.external_id


class Event(models.Model):
    """Something a profile did at a touchpoint."""

    # Indexed through (profile, name, occurred_at) below; no separate index.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    name = models.CharField(_("event"), max_length=64)
    channel = models.CharField(
        _("touchpoint"), max_length=32, choices=Touchpoint.choices, default=Touchpoint.WEB
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    key = models.CharField(_("idempotency key"), max_length=128)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [models.UniqueConstraint(fields=["key"], name="event_unique_key")]
        indexes = [
            models.Index(fields=["profile", "name", "occurred_at"]),
            models.Index(fields=["name", "occurred_at"]),
        ]

    def __str__(self):
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class TagCategory(models.Model):
    """A branch of the tag taxonomy: basic, social, interest, mindset, behaviour, value …"""

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=100)
    description = models.TextField(_("description"), blank=True, default="")
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("tag category")
        verbose_name_plural = _("tag categories")
        ordering = ["position", "slug"]

    def __str__(self):
        return self.label


class Tag(models.Model):
    """A label in the taxonomy that profiles can carry."""

    category = models.ForeignKey(TagCategory, on_delete=models.PROTECT, related_name="tags")
    slug = models.SlugField(_("slug"), max_length=64, unique=True, allow_unicode=True)
    label = models.CharField(_("label"), max_length=100)
    description = models.TextField(_("description"), blank=True, default="")
    colour = models.CharField(_("colour"), max_length=7, default="#6c757d")

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["category__position", "slug"]

    def __str__(self):
        return self.label


class Provenance(models.TextChoices):
    MANUAL = "manual", _("Manual")
    IMPORT = "import", _("Import")
    RULE = "rule", _("Rule")
    MODEL = "model", _("Model")
    FLOW = "flow", _("Flow")


class ProfileTag(models.Model):
    """A tag on a profile, with where it came from, when, by whom, and until when."""

    # Both indexed through the unique (profile, tag) constraint and the (tag, profile) index.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="profile_tags", db_index=False
    )
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="profile_tags", db_index=False
    )
    provenance = models.CharField(
        _("provenance"), max_length=10, choices=Provenance.choices, default=Provenance.MANUAL
    )
    set_at = models.DateTimeField(_("set at"), auto_now_add=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("profile tag")
        verbose_name_plural = _("profile tags")
        constraints = [
            models.UniqueConstraint(fields=["profile", "tag"], name="profiletag_unique_profile_tag")
        ]
        indexes = [
            models.Index(fields=["tag", "profile"]),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(expires_at__isnull=False),
                name="profiletag_expiry_idx",
            ),
        ]

    def __str__(self):
        return f"{self.profile} · {self.tag}"


class ProfileMerge(models.Model):
    """The record that one profile was merged into another (the source row is then deleted)."""

    source_external_id = models.CharField(_("merged profile"), max_length=128)
    target = models.ForeignKey(
        Profile, on_delete=models.SET_NULL, null=True, related_name="merges_received"
    )
    target_external_id = models.CharField(_("kept profile"), max_length=128)
    moved = models.JSONField(_("moved rows"), default=dict, blank=True)
    source_snapshot = models.JSONField(_("merged profile's fields"), default=dict, blank=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    merged_at = models.DateTimeField(_("merged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("profile merge")
        verbose_name_plural = _("profile merges")
        ordering = ["-merged_at"]

    def __str__(self):
        return f"{self.source_external_id} → {self.target_external_id}"


class PrivacyRequest(models.Model):
    """A data-subject request (export or erasure): who asked, why, and when it was done."""

    class Kind(models.TextChoices):
        EXPORT = "export", _("Export")
        ERASE = "erase", _("Erasure")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    profile = models.ForeignKey(
        Profile, on_delete=models.SET_NULL, null=True, related_name="privacy_requests"
    )
    external_id = models.CharField(_("external ID"), max_length=128)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True, default="")
    done_at = models.DateTimeField(_("done at"), auto_now_add=True)

    class Meta:
        verbose_name = _("data-subject request")
        verbose_name_plural = _("data-subject requests")
        ordering = ["-done_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.external_id}"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    WECOM = "wecom", _("WeCom")
    PUSH = "push", _("App push")


class ConsentPurpose(models.TextChoices):
    """The built-in purposes; more are added with the CONSENT_EXTRA_PURPOSES setting."""

    MARKETING = "marketing", _("Marketing")
    PROFILING = "profiling", _("Personalised profiling (PIPL art. 24)")


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", _("Granted")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    DENIED = "denied", _("Denied")


class ConsentSource(models.TextChoices):
    """How a consent record came to be."""

    WEB_FORM = "web_form", _("Web form")
    IMPORT = "import", _("Import")
    ADMIN = "admin", _("Admin")
    PREFERENCES = "preferences", _("Preference page")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")
    SMS_STOP = "sms_stop", _("SMS STOP reply")
    DOUBLE_OPT_IN = "double_opt_in", _("Double opt-in confirmation")
    API = "api", _("API")
    COMPLAINT = "complaint", _("Spam complaint")


class AppendOnlyError(Exception):
    """A consent record was about to be changed or deleted."""


# Every column of a consent record but its profile (a merge moves records) and who recorded it
# (SET_NULL when that account is deleted); a test checks that the list is complete.
LEDGER_FIXED_FIELDS = (
    "id", "channel", "purpose", "status", "recorded_at", "source", "notice_version",
    "evidence_ip", "evidence_user_agent", "evidence", "reason", "created_at",
)  # fmt: skip


class ConsentRecord(models.Model):
    """One grant, withdrawal or denial of consent: the ledger is append-only.

    The current state of a (profile, channel, purpose) is its latest record by ``recorded_at``
    and then by id; ``ConsentState`` keeps it, written in the same transaction as the record.

    Append-only at every level: the model refuses ``save()`` of a stored row and ``delete()``; a
    profile with records cannot be deleted (``PROTECT``: erasure anonymises the profile and keeps
    them, as proof); on PostgreSQL, triggers refuse any DELETE and any UPDATE but one that only
    moves records to another profile (a merge moves the duplicate's records to the kept one).
    """

    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="consent_records")
    channel = models.CharField(_("channel"), max_length=10, choices=ConsentChannel.choices)
    purpose = models.CharField(_("purpose"), max_length=40)
    status = models.CharField(_("status"), max_length=10, choices=ConsentStatus.choices)
    recorded_at = models.DateTimeField(_("given at"))
    source = models.CharField(_("how"), max_length=20, choices=ConsentSource.choices)
    notice_version = models.CharField(_("notice version"), max_length=100, blank=True, default="")
    evidence_ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    evidence_user_agent = models.CharField(_("user agent"), max_length=500, blank=True, default="")
    evidence = models.TextField(_("evidence"), blank=True, default="")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True, default="")
    created_at = models.DateTimeField(_("stored at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(
                fields=["profile", "channel", "purpose", "-recorded_at", "-id"],
                name="consent_latest_idx",
            ),
            models.Index(fields=["recorded_at"], name="consent_recorded_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="consent_ledger_no_delete", operation=pgtrigger.Delete),
            # Any change but a move to another profile (a merge) and the recorder's account
            # being deleted (SET_NULL) is refused.
            pgtrigger.Protect(
                name="consent_ledger_read_only",
                operation=pgtrigger.Update,
                condition=functools.reduce(
                    operator.or_,
                    [
                        pgtrigger.Q(**{f"old__{name}__df": pgtrigger.F(f"new__{name}")})
                        for name in LEDGER_FIXED_FIELDS
                    ],
                    pgtrigger.Q(
                        old__recorded_by__df=pgtrigger.F("new__recorded_by"),
                        new__recorded_by__isnull=False,
                    ),
                ),
            ),
        ]

    def __str__(self):
        return f"{self.profile_id} {self.channel}/{self.purpose} {self.status}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Consent records are append-only; record a new one instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Consent records are append-only; they are never deleted.")


class ConsentState(models.Model):
    """The current consent of a (profile, channel, purpose): a copy of its latest record."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consent_states")
    channel = models.CharField(_("channel"), max_length=10, choices=ConsentChannel.choices)
    purpose = models.CharField(_("purpose"), max_length=40)
    status = models.CharField(_("status"), max_length=10, choices=ConsentStatus.choices)
    record = models.ForeignKey(ConsentRecord, on_delete=models.CASCADE, related_name="+")
    recorded_at = models.DateTimeField(_("given at"))

    class Meta:
        verbose_name = _("current consent")
        verbose_name_plural = _("current consents")
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "channel", "purpose"], name="consent_state_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel", "purpose", "status", "profile"], name="consent_state_idx"
            ),
        ]

    def __str__(self):
        return f"{self.profile_id} {self.channel}/{self.purpose} {self.status}"


class PushProvider(models.TextChoices):
    """The push service a device token belongs to (it is only valid there)."""

    FCM = "fcm", _("Firebase Cloud Messaging")
    JPUSH = "jpush", _("JPush")


class DevicePlatform(models.TextChoices):
    ANDROID = "android", _("Android")
    IOS = "ios", _("iOS")
    HARMONY = "harmony", _("HarmonyOS")
    WEB = "web", _("Web")


# A push address is "<provider>:<token>" and a send's address holds at most 254 characters.
DEVICE_TOKEN_MAX_LENGTH = 240


class Device(models.Model):
    """An app installation of a profile that can receive push messages, by its provider's token.

    A token belongs to one installation, so it is unique per provider: registered again for
    another profile (a shared phone, a new sign-in), it moves to that profile.
    """

    # Indexed through (profile, last_seen_at) below; no separate index.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="devices", db_index=False
    )
    provider = models.CharField(_("push provider"), max_length=10, choices=PushProvider.choices)
    platform = models.CharField(_("platform"), max_length=10, choices=DevicePlatform.choices)
    token = models.CharField(_("device token"), max_length=DEVICE_TOKEN_MAX_LENGTH)
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen at"), default=timezone.now)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        constraints = [
            models.UniqueConstraint(fields=["provider", "token"], name="device_unique_token")
        ]
        indexes = [models.Index(fields=["profile", "-last_seen_at"], name="device_newest_idx")]

    def __str__(self):
        return f"{self.get_platform_display()} {self.provider}:{self.token[:12]}…"

    @property
    def address(self) -> str:
        """Return the push address of this device: ``<provider>:<token>``."""
        return f"{self.provider}:{self.token}"
