"""Admin for profiles, events and the tag taxonomy."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.masking import contact_visible, email_masked, phone_masked
from profiles.models import (
    ConsentRecord,
    ConsentState,
    Device,
    Event,
    PrivacyRequest,
    Profile,
    ProfileMerge,
    ProfileTag,
    Tag,
    TagCategory,
)


class ProfileTagInline(admin.TabularInline):
    model = ProfileTag
    extra = 0
    raw_id_fields = ["tag", "set_by"]


@admin.display(description=_("email"))
def _email_masked(profile: Profile) -> str:
    return email_masked(profile.email)


@admin.display(description=_("phone"))
def _phone_masked(profile: Profile) -> str:
    return phone_masked(profile.phone)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "email", "phone", "city", "value_tier", "signup_at"]
    list_filter = ["value_tier", "gender"]
    search_fields = [
        "=external_id", "=email", "name", "=wechat_openid", "=wechat_unionid",
        "=wecom_external_userid",
    ]  # fmt: skip
    show_full_result_count = False
    inlines = [ProfileTagInline]

    def get_list_display(self, request):
        """Show email addresses and phone numbers in full to consent admins only."""
        if contact_visible(request.user):
            return self.list_display
        masked = {"email": _email_masked, "phone": _phone_masked}
        return [masked.get(name, name) for name in self.list_display]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["profile", "name", "channel", "occurred_at", "amount"]
    list_filter = ["name", "channel"]
    raw_id_fields = ["profile"]
    show_full_result_count = False


@admin.register(TagCategory)
class TagCategoryAdmin(admin.ModelAdmin):
    list_display = ["slug", "label", "position"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["slug", "label", "category", "colour"]
    list_filter = ["category"]


@admin.register(ProfileTag)
class ProfileTagAdmin(admin.ModelAdmin):
    list_display = ["profile", "tag", "provenance", "set_at", "expires_at"]
    raw_id_fields = ["profile", "tag", "set_by"]


@admin.register(ProfileMerge)
class ProfileMergeAdmin(admin.ModelAdmin):
    list_display = ["source_external_id", "target_external_id", "merged_by", "merged_at"]
    search_fields = ["=source_external_id", "=target_external_id"]
    readonly_fields = [f.name for f in ProfileMerge._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(admin.ModelAdmin):
    list_display = ["kind", "external_id", "requested_by", "done_at"]
    list_filter = ["kind"]
    search_fields = ["=external_id"]
    readonly_fields = [f.name for f in PrivacyRequest._meta.fields]

    def has_add_permission(self, request):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Show rows that only services write: the consent ledger is append-only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "profile",
        "channel",
        "purpose",
        "status",
        "source",
        "recorded_at",
        "recorded_by",
    ]
    list_filter = ["channel", "purpose", "status", "source"]
    raw_id_fields = ["profile"]
    show_full_result_count = False


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdmin):
    list_display = ["profile", "channel", "purpose", "status", "recorded_at"]
    list_filter = ["channel", "purpose", "status"]
    raw_id_fields = ["profile", "record"]
    show_full_result_count = False


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["profile", "provider", "platform", "last_seen_at"]
    list_filter = ["provider", "platform"]
    raw_id_fields = ["profile"]
    exclude = ["token"]  # a push address: shown on the 360° page to the roles that may see it
    show_full_result_count = False
