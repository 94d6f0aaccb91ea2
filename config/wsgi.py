"""WSGI entry point: the application, warmed up before it serves its first request."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.warmup import server_warm_up  # noqa: E402 — needs the apps loaded just above

server_warm_up()
