"""URLs of exports: ``/exports/<kind>.<csv|xlsx>?<parameters>`` and a background export's file."""

from django.urls import path

from profiles.views import exports

app_name = "exports"
urlpatterns = [
    path("<int:pk>/download/", exports.export_download, name="download"),
    path("<slug:kind>.<slug:fmt>", exports.export_view, name="table"),
]
