"""URLs of the profiles app."""

from django.urls import path, register_converter

from profiles.converters import ExternalIdConverter
from profiles.views import consent, imports, privacy, profiles, tags
from profiles.views.audit import consent_audit
from profiles.views.optin import consent_opt_in_view

register_converter(ExternalIdConverter, "extid")

app_name = "profiles"
urlpatterns = [
    path("", profiles.profile_list, name="list"),
    path("columns/", profiles.profile_list_columns, name="list-columns"),
    path("consent/", consent.consent_index, name="consent"),
    path("consent/import/", consent.consent_import, name="consent-import"),
    path("consent/import/confirm/", consent.consent_import_confirm, name="consent-import-confirm"),
    path("consent/report/", consent.consent_report, name="consent-report"),
    path("consent/audit/", consent_audit, name="consent-audit"),
    path("consent/<extid:external_id>/opt-in/", consent_opt_in_view, name="consent-opt-in"),
    path("consent/<extid:external_id>/", consent.consent_history, name="consent-history"),
    path("consent/<extid:external_id>/record/", consent.consent_record_view, name="consent-record"),
    path("import/", imports.import_upload, name="import"),
    path("features/refresh/", profiles.features_refresh_view, name="features-refresh"),
    path("import/confirm/", imports.import_confirm, name="import-confirm"),
    path("import/cancel/", imports.import_cancel, name="import-cancel"),
    path("tags/", tags.tag_taxonomy, name="tags"),
    path("tags/new/", tags.tag_form, name="tag-create"),
    path("tags/bulk/", tags.tag_bulk, name="tags-bulk"),
    path("tags/bulk/count/", tags.tag_bulk_count, name="tags-bulk-count"),
    path("tags/categories/new/", tags.tag_category_form, name="tag-category-create"),
    path("tags/categories/<slug:slug>/edit/", tags.tag_category_form, name="tag-category-edit"),
    path("tags/<str:slug>/edit/", tags.tag_form, name="tag-edit"),
    path("tags/<str:slug>/delete/", tags.tag_delete, name="tag-delete"),
    path("<extid:external_id>/export/", privacy.profile_export_view, name="export"),
    path("<extid:external_id>/erase/", privacy.profile_erase_view, name="erase"),
    path("<extid:external_id>/merge/", profiles.profile_merge_view, name="merge"),
    # Keep this catch-all last: every other path above it.
    path("<extid:external_id>/", profiles.profile_detail, name="detail"),
]
