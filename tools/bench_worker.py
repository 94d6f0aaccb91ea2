"""Run `celery` with email sent over SMTP to 127.0.0.1:$BENCH_SMTP_PORT, whatever the settings
module says (the test settings keep mail in memory), as the benchmarks' workers do::

    BENCH_SMTP_PORT=2525 python -m tools.bench_worker -A config worker --pool=solo
"""

import os
import sys


def main() -> None:
    from django.conf import settings  # settings, not apps: Celery sets Django up itself

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", int(os.environ["BENCH_SMTP_PORT"])
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    main()
