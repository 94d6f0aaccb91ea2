"""URLs of the profiles app."""

from django.urls import path

from profiles.views import imports, privacy, profiles, tags

app_name = "profiles"
urlpatterns = [
    path("", profiles.profile_list, name="list"),
    path("consent/", profiles.consent_index, name="consent"),
    path("import/", imports.import_upload, name="import"),
    path("features/refresh/", profiles.features_refresh_view, name="features-refresh"),
    path("import/confirm/", imports.import_confirm, name="import-confirm"),
    path("tags/", tags.tag_taxonomy, name="tags"),
    path("tags/new/", tags.tag_form, name="tag-create"),
    path("tags/bulk/", tags.tag_bulk, name="tags-bulk"),
    path("tags/bulk/count/", tags.tag_bulk_count, name="tags-bulk-count"),
    path("tags/categories/new/", tags.tag_category_form, name="tag-category-create"),
    path("tags/categories/<slug:slug>/edit/", tags.tag_category_form, name="tag-category-edit"),
    path("tags/<str:slug>/edit/", tags.tag_form, name="tag-edit"),
    path("tags/<str:slug>/delete/", tags.tag_delete, name="tag-delete"),
    path("<str:external_id>/export/", privacy.profile_export_view, name="export"),
    path("<str:external_id>/erase/", privacy.profile_erase_view, name="erase"),
    path("<str:external_id>/merge/", profiles.profile_merge_view, name="merge"),
    # Keep this catch-all last: every other path above it.
    path("<str:external_id>/", profiles.profile_detail, name="detail"),
]
