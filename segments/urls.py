"""URLs of the segments app."""

from django.urls import path

from segments import views

app_name = "segments"
urlpatterns = [
    path("", views.index, name="list"),
    path("new/", views.segment_create, name="create"),
    path("preview/", views.preview, name="preview"),
    path("<str:slug>/edit/", views.segment_edit, name="edit"),
    path("<str:slug>/", views.detail, name="detail"),
    path("<str:slug>/evaluate/", views.evaluate, name="evaluate"),
    path("<str:slug>/members.csv", views.members_csv, name="members-csv"),
]
