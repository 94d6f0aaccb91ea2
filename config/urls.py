"""The project's URLs: each app's own, the admin, i18n, and the API under /api/v1/."""

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from campaigns.shortlinks import urlpatterns as short_link_urlpatterns
from campaigns.tracking import anymail_webhook_urlpatterns
from journeys.views import dashboard

api_patterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="core/swagger_ui.html"
        ),
        name="docs",
    ),
    path("", include("profiles.api.urls")),
    path("", include("segments.api.urls")),
    path("", include("campaigns.api.urls")),
    path("journeys/", include("journeys.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("flows.api.urls")),
]

urlpatterns = [
    path("", include("core.urls")),
    path("", dashboard, name="home"),
    path("journeys/", include("journeys.urls")),
    path("profiles/", include("profiles.urls")),
    path("segments/", include("segments.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("flows/", include("flows.urls")),
    path("predictions/", include("predictions.urls")),
    path("exports/", include("profiles.export_urls")),
    path("c/", include("profiles.public_urls")),
    *short_link_urlpatterns,
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    path("anymail/", include((anymail_webhook_urlpatterns(), "anymail"))),
    path("api/v1/", include((api_patterns, "api"))),
]
