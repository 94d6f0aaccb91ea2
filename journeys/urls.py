"""URLs of the journeys app."""

from django.urls import path

from journeys import views

app_name = "journeys"
urlpatterns = [
    path("", views.stages, name="stages"),
    path("funnel/", views.funnel, name="funnel"),
    path("new/", views.stage_new, name="stage-new"),
    path("refresh/", views.stages_refresh, name="refresh"),
    path("<str:slug>/edit/", views.stage_edit, name="stage-edit"),
]
