"""What campaigns look like in the API, and what a client sends to create or change one."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.channels import offered_choices
from campaigns.models import CHOSEN_KINDS, Campaign, Variant
from campaigns.selectors import PROGRESS_STATUSES, campaign_halt_reason
from campaigns.services.traits import content_warnings
from core.api_fields import SlugRelated
from segments.models import Segment


class VariantSerializer(serializers.ModelSerializer):
    """One variant: its key, weight and content (Jinja2 with the whitelisted profile fields)."""

    key = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,10}$", max_length=10, help_text=_("A, B, C …; unique in the campaign")
    )

    class Meta:
        model = Variant
        fields = ["key", "name", "weight", "subject", "body_text", "body_html", "fields"]
        extra_kwargs = {
            "weight": {"min_value": 1, "max_value": 1000},
            "fields": {
                "help_text": _(
                    "The content parts of a channel that declares them, by name (wechat: "
                    "template_id, data {keyword: template}, url, message_type; wecom: text, "
                    "link_title, link_url); empty for email and SMS"
                )
            },
        }


class StatusCountsSerializer(serializers.Serializer):
    """How many ledger rows are in each status."""

    queued = serializers.IntegerField()
    waiting = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    holdout = serializers.IntegerField()
    total = serializers.IntegerField()


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign with its variants and the counts of its send ledger by status."""

    include_segments = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    exclude_segments = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    trigger_segment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    winner = serializers.SlugRelatedField(slug_field="key", read_only=True)
    variants = VariantSerializer(many=True, read_only=True)
    counts = serializers.SerializerMethodField()
    status_reason = serializers.SerializerMethodField(
        help_text=_("Why sending stopped by itself (paused), else empty")
    )

    warnings = serializers.SerializerMethodField(
        help_text=_(
            "What may fail for this audience, e.g. the share lacking a trait the content reads "
            "(on one campaign, not in the list)"
        )
    )

    class Meta:
        model = Campaign
        fields = [
            "slug", "name", "description", "channel", "purpose", "kind", "status",
            "include_segments", "exclude_segments", "trigger_segment", "trigger_stage",
            "send_at", "holdout_percent", "winner_mode", "test_percent", "winner_delay_hours",
            "winner_metric", "winner_fallback", "winner", "winner_decided_at", "from_email",
            "started_at", "finished_at", "created_at", "updated_at", "variants", "counts",
            "status_reason", "warnings",
        ]  # fmt: skip
        read_only_fields = fields

    def get_warnings(self, campaign) -> list[str]:
        if not self.context.get("with_warnings"):
            return []
        return content_warnings(campaign=campaign)

    def get_status_reason(self, campaign) -> str:
        return campaign_halt_reason(campaign=campaign)

    @extend_schema_field(StatusCountsSerializer)
    def get_counts(self, campaign) -> dict:
        counts = {status: getattr(campaign, f"n_{status}", 0) or 0 for status in PROGRESS_STATUSES}
        counts["total"] = sum(counts.values())
        return counts


class CampaignWriteSerializer(serializers.Serializer):
    """A campaign to create or change; segments by slug; ``variants`` replace the current ones."""

    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(
        max_length=100, required=False, help_text=_("Made from the name when left out")
    )
    description = serializers.CharField(required=False, allow_blank=True)
    channel = serializers.ChoiceField(choices=offered_choices())
    purpose = serializers.CharField(max_length=40, required=False)
    kind = serializers.ChoiceField(choices=CHOSEN_KINDS, required=False)
    include_segments = SlugRelated(
        slug_field="slug", many=True, queryset=Segment.objects.all(), required=False
    )
    exclude_segments = SlugRelated(
        slug_field="slug", many=True, queryset=Segment.objects.all(), required=False
    )
    trigger_segment = SlugRelated(
        slug_field="slug", queryset=Segment.objects.all(), required=False, allow_null=True
    )
    trigger_stage = serializers.CharField(max_length=50, required=False, allow_blank=True)
    holdout_percent = serializers.IntegerField(min_value=0, max_value=50, required=False)
    winner_mode = serializers.ChoiceField(choices=Campaign.WinnerMode.choices, required=False)
    test_percent = serializers.IntegerField(min_value=1, max_value=100, required=False)
    winner_delay_hours = serializers.IntegerField(min_value=0, max_value=24 * 365, required=False)
    winner_metric = serializers.ChoiceField(choices=Campaign.WinnerMetric.choices, required=False)
    winner_fallback = serializers.ChoiceField(
        choices=Campaign.WinnerFallback.choices, required=False
    )
    from_email = serializers.CharField(max_length=200, required=False, allow_blank=True)
    variants = VariantSerializer(many=True, required=False, max_length=26)

    def validate_slug(self, value):
        from campaigns.services.workflow import RESERVED_SLUGS

        if value in RESERVED_SLUGS:
            raise serializers.ValidationError(_("This slug is reserved; choose another."))
        taken = Campaign.objects.filter(slug=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(_("A campaign with this slug already exists."))
        return value


class ScheduleSerializer(serializers.Serializer):
    """When to send: an ISO 8601 date-time with its offset (stored in UTC)."""

    send_at = serializers.DateTimeField(
        help_text=_("e.g. 2025-03-01T09:30:00+08:00; without an offset, in the server's zone")
    )
