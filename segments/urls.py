"""URLs of the segments app."""

from django.urls import path

from segments import insight_views, views

app_name = "segments"
urlpatterns = [
    path("", views.index, name="list"),
    path("new/", views.segment_create, name="create"),
    path("preview/", views.preview, name="preview"),
    path("<str:slug>/edit/", views.segment_edit, name="edit"),
    path("<str:slug>/why/", views.explain, name="explain"),
    path("<str:slug>/static/upload/", views.static_upload, name="static-upload"),
    path("<str:slug>/static/add-filter/", views.static_add_filter, name="static-add-filter"),
    path("<str:slug>/static/clear/", views.static_clear, name="static-clear"),
    path("<str:slug>/tag/", views.tag_bind, name="tag-bind"),
    path("<str:slug>/", views.detail, name="detail"),
    path("<str:slug>/portrait/", insight_views.portrait, name="portrait"),
    path("<str:slug>/overlap/", insight_views.overlap, name="overlap"),
    path("<str:slug>/evaluate/", views.evaluate, name="evaluate"),
    path("<str:slug>/status/", views.status, name="status"),
    path("<str:slug>/members.csv", views.members_csv, name="members-csv"),
]
