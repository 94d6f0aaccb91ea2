"""Gunicorn's settings in production (read from the working directory by `gunicorn config.wsgi`)."""

import os

# In a container the port is published from all interfaces; on a host behind a local proxy,
# set HOST=127.0.0.1.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('WEB_PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 60
graceful_timeout = 30
# Replace each worker after about this many requests, so a slow leak cannot grow for ever.
max_requests = 1000
max_requests_jitter = 100
# Django's middleware writes one JSON access line per request (with its request id): no
# second access log here; gunicorn's own lines go through the same JSON formatter.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {"gunicorn.error": {"handlers": ["console"], "level": loglevel.upper()}},
}
