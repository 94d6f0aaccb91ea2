"""Campaigns: content variants, audience, schedule, the send ledger, suppressions and the
webhook endpoints with their delivery log."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from profiles.models import ConsentChannel, Profile
from segments.models import Segment


class Channel(models.TextChoices):
    """The built-in channels' keys; every channel, these included, is in ``campaigns.channels``."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


def channel_choices():
    """Every registered channel (``campaigns.channels``): adding one needs no migration."""
    from campaigns.channels import channel_choices as registered

    return registered()


class Campaign(models.Model):
    """Email or SMS content sent to segment members, once at a time or when triggered."""

    class Kind(models.TextChoices):
        ONE_OFF = "one_off", _("One-off at a scheduled time")
        TRIGGERED = "triggered", _("Triggered when a profile enters a segment or stage")
        # Owned by a step of a flow (an app above): left out of the campaign lists, never
        # started or finished by the tick; the flow inserts its ledger rows while it is live.
        FLOW = "flow", _("Step of a flow")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    class WinnerMode(models.TextChoices):
        NONE = "none", _("Send all variants to everyone at once")
        TEST_THEN_WINNER = "test_then_winner", _("Test on a share first, then send the winner")

    class WinnerMetric(models.TextChoices):
        OPENS = "opens", _("Open rate")
        CLICKS = "clicks", _("Click rate")
        CONVERSIONS = "conversions", _("Conversion rate")

    class WinnerFallback(models.TextChoices):
        FIRST = "first", _("Send the first variant")
        SPLIT = "split", _("Keep splitting by weight")

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=100, unique=True, allow_unicode=False)
    description = models.TextField(_("description"), blank=True, default="")
    channel = models.CharField(_("channel"), max_length=10, choices=channel_choices)
    purpose = models.CharField(_("consent purpose"), max_length=40, default="marketing")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.ONE_OFF)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    include_segments = models.ManyToManyField(
        Segment, related_name="campaigns_including", blank=True, verbose_name=_("send to")
    )
    exclude_segments = models.ManyToManyField(
        Segment, related_name="campaigns_excluding", blank=True, verbose_name=_("leave out")
    )
    # Triggered campaigns: a profile entering this segment (or journey stage) gets the message.
    trigger_segment = models.ForeignKey(
        Segment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="triggered_campaigns",
        verbose_name=_("trigger segment"),
    )
    trigger_stage = models.CharField(_("trigger stage"), max_length=50, blank=True, default="")
    trigger_cursor = models.BigIntegerField(_("last transition handled"), default=0)
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(_("holdout %"), default=0)
    winner_mode = models.CharField(
        _("A/B mode"), max_length=20, choices=WinnerMode.choices, default=WinnerMode.NONE
    )
    test_percent = models.PositiveSmallIntegerField(_("test share %"), default=20)
    winner_delay_hours = models.PositiveIntegerField(_("test window (hours)"), default=24)
    winner_metric = models.CharField(
        _("winner metric"), max_length=12, choices=WinnerMetric.choices, default=WinnerMetric.CLICKS
    )
    winner_fallback = models.CharField(
        _("when no variant wins"),
        max_length=10,
        choices=WinnerFallback.choices,
        default=WinnerFallback.FIRST,
    )
    winner = models.ForeignKey(
        "Variant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    winner_decided_at = models.DateTimeField(_("winner decided at"), null=True, blank=True)
    winner_decision = models.JSONField(_("winner decision"), default=dict, blank=True)
    from_email = models.CharField(
        pgettext_lazy("email", "from"), max_length=200, blank=True, default=""
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "send_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=50), name="campaign_holdout_at_most_half"
            ),
            models.CheckConstraint(
                condition=Q(test_percent__gte=1, test_percent__lte=100),
                name="campaign_test_share_percent",
            ),
        ]

    def __str__(self):
        return self.name


# The kinds the campaign form and API offer: a flow makes the campaigns of its steps itself.
CHOSEN_KINDS = [choice for choice in Campaign.Kind.choices if choice[0] != Campaign.Kind.FLOW]


class Variant(models.Model):
    """One version of a campaign's content, sent to a weighted share of the audience."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(_("key"), max_length=10)  # A, B, C ...
    name = models.CharField(_("name"), max_length=100, blank=True, default="")
    weight = models.PositiveSmallIntegerField(_("weight"), default=50)
    subject = models.CharField(_("subject"), max_length=300, blank=True, default="")
    body_text = models.TextField(_("text body"), blank=True, default="")
    body_html = models.TextField(_("HTML body"), blank=True, default="")
    # The content of a channel that declares its parts (``ChannelSpec.content``): {name: value}.
    fields = models.JSONField(_("content fields"), blank=True, default=dict)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["campaign", "key"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key"], name="variant_key_unique"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="variant_weight_positive"),
        ]

    def __str__(self):
        return f"{self.campaign} · {self.key}"


class CampaignChange(models.Model):
    """Who changed what on a campaign, and when (status changes, edits, the winner)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="changes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=40)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign change")
        verbose_name_plural = _("campaign changes")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.campaign} {self.action}"


class Send(models.Model):
    """One row of the send ledger: one campaign, one profile, one entry, at most once.

    ``entry`` is 0 for every campaign but a flow's, which numbers each time a profile enters
    the flow, so that a profile entering again can get the step's message again.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")
        HOLDOUT = "holdout", _("Holdout (not sent)")
        WAITING = "waiting", _("Waiting for the winner")

    class SkipReason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent")
        NO_ADDRESS = "no_address", _("No valid address or number")
        FREQUENCY_CAP = "frequency_cap", _("Frequency cap reached")
        SUPPRESSED = "suppressed", _("Suppressed after a bounce or complaint")
        EXCLUDED = "excluded", _("Left the audience")
        CANCELLED = "cancelled", _("Campaign cancelled")

    class Delivery(models.TextChoices):
        """What the provider's delivery receipt said of a sent SMS ("": no receipt yet)."""

        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Not delivered")

    # No index of their own: send_once_per_profile_entry and send_claim_idx begin with campaign,
    # and send_profile_sent_idx with profile. Each index is written at every claim and sent row.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="sends", db_index=False
    )
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="sends", db_index=False
    )
    entry = models.PositiveIntegerField(_("entry"), default=0)
    variant = models.ForeignKey(
        Variant, on_delete=models.PROTECT, null=True, blank=True, related_name="sends"
    )
    in_test = models.BooleanField(_("in the test share"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    skip_reason = models.CharField(
        _("skip reason"), max_length=20, choices=SkipReason.choices, blank=True, default=""
    )
    address = models.CharField(_("address"), max_length=254, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    batch = models.UUIDField(_("batch"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    message_id = models.CharField(_("message ID"), max_length=255, blank=True, default="")
    # An SMS: how many parts it was billed as (0: not an SMS, or sent before parts were kept),
    # and what its delivery receipt said (campaigns.receipts), with the provider's code.
    parts = models.PositiveSmallIntegerField(_("parts"), default=0)
    delivery = models.CharField(
        _("delivery"), max_length=10, choices=Delivery.choices, blank=True, default=""
    )
    delivery_at = models.DateTimeField(_("delivery reported at"), null=True, blank=True)
    delivery_code = models.CharField(_("delivery code"), max_length=64, blank=True, default="")
    delivery_error = models.CharField(_("delivery error"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)

    class Meta:
        verbose_name = _("send")
        verbose_name_plural = _("sends")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "profile", "entry"], name="send_once_per_profile_entry"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="send_claim_idx"),
            models.Index(fields=["status", "claimed_at"], name="send_stale_idx"),
            models.Index(fields=["profile", "sent_at"], name="send_profile_sent_idx"),
            # Delivery receipts find their row by the provider's message id.
            models.Index(
                fields=["message_id"], name="send_message_id_idx", condition=~Q(message_id="")
            ),
        ]

    def __str__(self):
        return f"{self.campaign_id}/{self.profile_id} {self.status}"


class Suppression(models.Model):
    """An address that gets no more marketing: a hard bounce, a complaint, or by hand."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        COMPLAINT = "complaint", _("Spam complaint")
        MANUAL = "manual", _("Added by hand")

    channel = models.CharField(_("channel"), max_length=10, choices=channel_choices)
    address = models.CharField(_("address"), max_length=254)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    detail = models.TextField(_("detail"), blank=True, default="")
    created_at = models.DateTimeField(_("since"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        constraints = [
            models.UniqueConstraint(fields=["channel", "address"], name="suppression_unique"),
        ]
        # Sends look addresses up case-insensitively, 500 at a time: without this index each
        # batch read every suppression of the channel (880 ms a batch at 300,000 of them).
        indexes = [models.Index(F("channel"), Lower("address"), name="suppression_lookup_idx")]

    def __str__(self):
        return f"{self.channel}:{self.address}"


class TrackingEvent(models.Model):
    """Something that happened to a sent message: delivered, bounced, opened, clicked, a complaint.

    Opens and clicks come from our pixel and redirect links (every one is kept; "unique" counts
    are computed per send); the rest from the email provider's webhooks, whose event id is kept
    so a webhook delivered twice is recorded once.
    """

    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        CLICK = "click", _("Click")
        DELIVERED = "delivered", _("Delivered")
        BOUNCE = "bounce", _("Bounce")
        COMPLAINT = "complaint", _("Complaint")

    send = models.ForeignKey(Send, on_delete=models.CASCADE, related_name="tracking_events")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    url = models.TextField(_("URL"), blank=True, default="")
    provider_event_id = models.CharField(
        _("provider event ID"), max_length=255, null=True, blank=True, unique=True
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        indexes = [models.Index(fields=["send", "kind"], name="tracking_send_kind_idx")]

    def __str__(self):
        return f"{self.send_id} {self.kind}"


class ShortLink(models.Model):
    """A link of an SMS campaign's texts, shortened to ``/s/<code>`` (``campaigns.shortlinks``).

    One row per campaign and target; the code names the send and this row, signed.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="short_links")
    digest = models.CharField(_("digest of the URL"), max_length=64)
    url = models.TextField(_("URL"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("short link")
        verbose_name_plural = _("short links")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "digest"], name="short_link_unique"),
        ]

    def __str__(self):
        return self.url


class RateSlot(models.Model):
    """The next free send slot of a channel, shared by every worker (``delivery.pacing``)."""

    channel = models.CharField(_("channel"), max_length=10, primary_key=True)
    next_us = models.BigIntegerField(_("next free slot, µs since the epoch"), default=0)

    class Meta:
        verbose_name = _("rate slot")
        verbose_name_plural = _("rate slots")

    def __str__(self):
        return f"{self.channel} {self.next_us}"


def consent_channel_choices():
    """The consent channels an endpoint may declare (as they grow, no migration is needed)."""
    return ConsentChannel.choices


class WebhookEndpoint(models.Model):
    """A receiver of our signed webhooks: the webhook channel's campaigns and flow steps post to it.

    ``secret`` signs every body (``core.webhooks.timed_signature``); ``consent_channel`` is the
    consent a campaign posting to it checks for each profile, with the campaign's purpose.
    """

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=100, unique=True, allow_unicode=False)
    url = models.URLField(_("address (URL)"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=200)
    consent_channel = models.CharField(
        _("consent checked"), max_length=10, choices=consent_channel_choices, default="email"
    )
    timeout_seconds = models.PositiveSmallIntegerField(_("timeout (seconds)"), default=5)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(timeout_seconds__gte=1, timeout_seconds__lte=30),
                name="webhook_endpoint_timeout_range",
            ),
        ]

    def __str__(self):
        return self.name


class WebhookDelivery(models.Model):
    """One attempt to post to an endpoint: what answered, how fast, and for which message.

    ``delivery_id`` is the ``X-Webhook-Delivery`` header, the same for every attempt of one
    message (a campaign's ledger row, a flow step of one enrollment). The log is bounded by
    WEBHOOK_LOG_DAYS and the personal-data retention.
    """

    class Source(models.TextChoices):
        CAMPAIGN = "campaign", _("Campaign")
        FLOW = "flow", _("Flow step")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    send = models.ForeignKey(
        Send, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_label = models.CharField(_("from"), max_length=200, blank=True, default="")
    delivery_id = models.CharField(_("delivery ID"), max_length=100)
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    response_excerpt = models.CharField(_("response"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_log_idx"),
            models.Index(fields=["created_at"], name="webhook_delivery_age_idx"),
        ]

    def __str__(self):
        return f"{self.endpoint_id} {self.delivery_id} #{self.attempt}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
