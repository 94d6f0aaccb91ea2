"""URLs of the end-user consent pages (no login): preferences, unsubscribe, opt-in confirmation."""

from django.urls import path

from profiles.views import public

app_name = "consent_public"
urlpatterns = [
    path("preferences/<str:token>/", public.preferences, name="preferences"),
    path("unsubscribe/<str:token>/", public.unsubscribe, name="unsubscribe"),
    path("confirm/<str:token>/", public.confirm, name="confirm"),
]
