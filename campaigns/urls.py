"""URLs of the campaigns app."""

from django.urls import path

from campaigns import composer, preview_frame, tracking, views, webhook_views
from campaigns.inbound import sms_inbound
from campaigns.receipts import PROVIDERS, sms_receipts

app_name = "campaigns"
urlpatterns = [
    *tracking.urlpatterns,
    path("", views.index, name="list"),
    path("sms/inbound/", sms_inbound, name="sms-inbound"),
    *(
        route
        for provider in PROVIDERS
        for route in (
            path(
                f"sms/receipts/{provider}/",
                sms_receipts,
                {"provider": provider},
                name=f"sms-receipts-{provider}",
            ),
            path(
                f"sms/receipts/{provider}/<str:token>/",
                sms_receipts,
                {"provider": provider},
                name=f"sms-receipts-{provider}",
            ),
        )
    ),
    path("new/", composer.campaign_create, name="create"),
    path("audience-size/", composer.audience_size, name="audience-size"),
    path("sms-length/", views.sms_length, name="sms-length"),
    path("preview/", views.preview, name="preview"),
    path("preview/html/<str:key>/", preview_frame.preview_html, name="preview-html"),
    path("webhooks/", webhook_views.webhook_list, name="webhooks"),
    path("webhooks/new/", webhook_views.webhook_create, name="webhook-create"),
    path("webhooks/<slug:slug>/", webhook_views.webhook_detail, name="webhook"),
    path("webhooks/<slug:slug>/edit/", webhook_views.webhook_edit, name="webhook-edit"),
    path("webhooks/<slug:slug>/active/", webhook_views.webhook_active, name="webhook-active"),
    path("webhooks/<slug:slug>/rotate/", webhook_views.webhook_rotate, name="webhook-rotate"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/edit/", composer.campaign_edit, name="edit"),
    path("<slug:slug>/review/", composer.review, name="review"),
    path("<slug:slug>/reach/", composer.reach, name="reach"),
    path("<slug:slug>/send-now/", composer.send_now, name="send-now"),
    path("<slug:slug>/progress/", views.progress, name="progress"),
    path("<slug:slug>/report/", views.report, name="report"),
    path("<slug:slug>/results/", views.results, name="results"),
    path("<slug:slug>/schedule/", views.schedule, name="schedule"),
    path("<slug:slug>/unschedule/", views.unschedule, name="unschedule"),
    path("<slug:slug>/pause/", views.pause, name="pause"),
    path("<slug:slug>/resume/", views.resume, name="resume"),
    path("<slug:slug>/cancel/", views.cancel, name="cancel"),
    path("<slug:slug>/test-send/", views.test_send, name="test-send"),
    path("<slug:slug>/winner/", views.winner, name="winner"),
]
