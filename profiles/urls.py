"""URLs of the profiles app."""

from django.urls import path

from profiles.views import imports, profiles

app_name = "profiles"
urlpatterns = [
    path("", profiles.profile_list, name="list"),
    path("consent/", profiles.consent_index, name="consent"),
    path("import/", imports.import_upload, name="import"),
    path("import/confirm/", imports.import_confirm, name="import-confirm"),
    # Keep this catch-all last: every other path above it.
    path("<str:external_id>/", profiles.profile_detail, name="detail"),
]
