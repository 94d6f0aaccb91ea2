"""URLs of the flows app: the list, a new flow, the editor and its in-place step edits."""

from django.urls import path

from flows import step_views, urls_report, views

app_name = "flows"
urlpatterns = [
    path("", views.flow_list, name="list"),
    path("new/", views.flow_create, name="create"),
    path("<slug:slug>/", views.flow_detail, name="detail"),
    path("<slug:slug>/settings/", views.flow_settings, name="settings"),
    path("<slug:slug>/go-live/", views.flow_go_live, name="go-live"),
    path("<slug:slug>/pause/", views.flow_pause, name="pause"),
    path("<slug:slug>/archive/", views.flow_archive, name="archive"),
    path("<slug:slug>/editor/", step_views.editor_fragment, name="editor"),
    path("<slug:slug>/steps/add/", step_views.step_add, name="step-add"),
    path("<slug:slug>/steps/<slug:key>/edit/", step_views.step_edit, name="step-edit"),
    path("<slug:slug>/steps/<slug:key>/remove/", step_views.step_delete, name="step-remove"),
    path("<slug:slug>/steps/<slug:key>/profiles/", views.step_profiles, name="step-profiles"),
    *urls_report.urlpatterns,
]
