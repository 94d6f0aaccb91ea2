"""Admin for campaigns, their variants, the send ledger and suppressions."""

from django.contrib import admin

from campaigns.models import (
    Campaign,
    CampaignChange,
    RateSlot,
    Send,
    ShortLink,
    Suppression,
    TrackingEvent,
    Variant,
    WebhookDelivery,
    WebhookEndpoint,
)


class VariantInline(admin.StackedInline):
    model = Variant
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "channel", "kind", "status", "send_at"]
    list_filter = ["channel", "kind", "status"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["include_segments", "exclude_segments"]
    raw_id_fields = ["trigger_segment", "winner", "created_by"]
    inlines = [VariantInline]


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ["campaign", "key", "name", "weight"]


@admin.register(CampaignChange)
class CampaignChangeAdmin(admin.ModelAdmin):
    list_display = ["campaign", "action", "user", "at"]
    list_filter = ["action"]


@admin.register(Send)
class SendAdmin(admin.ModelAdmin):
    list_display = ["campaign", "profile", "variant", "status", "skip_reason", "sent_at"]
    list_filter = ["status", "skip_reason"]
    raw_id_fields = ["campaign", "profile", "variant"]
    show_full_result_count = False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["channel", "address", "reason", "created_at"]
    list_filter = ["channel", "reason"]
    search_fields = ["=address"]


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin):
    list_display = ["send", "kind", "url", "provider_event_id", "at"]
    list_filter = ["kind"]
    raw_id_fields = ["send"]
    show_full_result_count = False


@admin.register(RateSlot)
class RateSlotAdmin(admin.ModelAdmin):
    list_display = ["channel", "next_us"]


@admin.register(ShortLink)
class ShortLinkAdmin(admin.ModelAdmin):
    list_display = ["campaign", "url", "created_at"]
    raw_id_fields = ["campaign"]
    show_full_result_count = False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "url", "consent_channel", "active"]
    list_filter = ["active"]
    exclude = ["secret"]  # shown to campaign managers on its own page, never in the admin


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["endpoint", "source", "delivery_id", "attempt", "status_code", "created_at"]
    list_filter = ["source", "status_code"]
    raw_id_fields = ["endpoint", "send"]
    show_full_result_count = False
