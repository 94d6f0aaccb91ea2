"""Shared infrastructure: roles, background jobs, health, the base pages."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self):
        from django.contrib.auth.signals import user_login_failed

        from core import logs  # noqa: F401 (connects the request id's Celery signals)
        from core.jobs import job_kind
        from core.login_limits import login_failed
        from core.notifications import job_topic_register
        from core.services import selftest_job

        job_kind("core.selftest", selftest_job, label=_("Worker self-test"))
        job_topic_register()
        user_login_failed.connect(login_failed, dispatch_uid="core.login_limits")
