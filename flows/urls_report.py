"""The flow report's URL, to be part of the flows app's URLs (``flows:report``)."""

from django.urls import path

from flows.report_views import flow_report_page

urlpatterns = [
    path("<slug:slug>/report/", flow_report_page, name="report"),
]
