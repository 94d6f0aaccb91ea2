"""URLs of the journeys app."""

from django.urls import path

from journeys import views

app_name = "journeys"
urlpatterns = [
    path("", views.stages, name="stages"),
]
