"""URLs of the profiles app."""

from django.urls import path

from profiles import views

app_name = "profiles"
urlpatterns = [
    path("", views.profile_list, name="list"),
    path("consent/", views.consent_index, name="consent"),
    path("<str:external_id>/", views.profile_detail, name="detail"),
]
