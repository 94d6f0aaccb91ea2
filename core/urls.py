"""URLs of the core app."""

from django.contrib.auth import views as auth_views
from django.urls import path

from core import notification_views, token_views, two_factor, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-step/", two_factor.two_factor_verify, name="two-factor-verify"),
    path("accounts/two-step/setup/", two_factor.two_factor_setup, name="two-factor-setup"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/tokens/", token_views.api_tokens, name="api-tokens"),
    path(
        "accounts/tokens/<int:pk>/revoke/",
        token_views.api_token_revoke_view,
        name="api-token-revoke",
    ),
    path("notifications/", notification_views.notification_list, name="notifications"),
    path("notifications/badge/", notification_views.notification_badge, name="notifications-badge"),
    path("notifications/menu/", notification_views.notification_menu, name="notifications-menu"),
    path(
        "notifications/read/", notification_views.notifications_read_all, name="notifications-read"
    ),
    path(
        "notifications/<int:pk>/open/",
        notification_views.notification_open,
        name="notification-open",
    ),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("jobs/selftest/", views.job_selftest, name="job-selftest"),
]
