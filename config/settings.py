"""Project settings, read from the environment with defaults that run on one machine."""

import zoneinfo
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.api_docs import SPECTACULAR_SETTINGS  # noqa: F401 (drf-spectacular's setting)
from config.csp import CONTENT_SECURITY_POLICY  # noqa: F401 (the policy, django-csp's setting)
from config.env import (
    env,
    env_bool,
    env_fraction,
    env_int,
    env_purposes,
    env_quiet_hours,
)

BASE_DIR = Path(__file__).resolve().parent.parent

environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# This machine's own files (SQLite, file broker and cache, beat schedule, local uploads).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET = "dev-only-insecure-key-do-not-use-in-production-7f3a9c1e5b"  # noqa: S105 (development only, refused when DEBUG is false)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")
    SECRET_KEY = _DEV_SECRET
elif not DEBUG and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "phonenumber_field",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "auditlog",
    "pgtrigger",
    "profiles",
    "segments",
    "campaigns",
    "predictions",
    "journeys",
    "flows",
    "core",
    "tools",  # benchmarks and demo data: commands around the product, not part of it
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "core.hostile.NulRefusedMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.middleware.PrivilegedSessionMiddleware",
    "core.two_factor.TwoFactorMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.LoginRequiredMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.notifications",
            ],
        },
    },
]

# Database: SQLite in WAL mode under var/ unless DATABASE_URL says otherwise.
_DEFAULT_DB = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
try:
    DATABASES = {"default": env.db_url("DATABASE_URL", default=_DEFAULT_DB)}
except Exception as exc:  # django-environ raises several kinds for a malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL Django can use: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("CONN_MAX_AGE", 60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Segment refreshes keep per-profile event measures in temporary tables: let them stay in
    # memory (allocated only when used; the PostgreSQL default is 8 MB).
    _temp_buffers = env_int("PG_TEMP_BUFFERS_MB", 256, minimum=1)
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c temp_buffers={_temp_buffers}MB".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "core.login_limits.AddressLimitBackend",
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions: SESSION_HOURS for everyone; a superuser's or consent admin's ends with the browser,
# or after PRIVILEGED_SESSION_IDLE_MINUTES without a request (core.middleware).
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12, minimum=1) * 3600
PRIVILEGED_SESSION_IDLE_MINUTES = env_int("PRIVILEGED_SESSION_IDLE_MINUTES", 30, minimum=1)

# Two-step sign-in for superusers and consent admins: the name authenticator apps show.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Profiling & Ops")

# django-axes: lock an account/IP pair out after repeated failures.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Failed logins from one address, whatever the usernames, before it is locked out for
# AXES_COOLOFF_MINUTES (core.login_limits, counted in the cache).
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=1)

# Internationalisation: Simplified Chinese and English; times are aware.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
if LANGUAGE_CODE not in {code for code, _name in LANGUAGES}:
    raise ImproperlyConfigured(f"LANGUAGE_CODE={LANGUAGE_CODE!r} is not one of zh-hans, en.")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not an IANA time zone.") from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG  # serve from static/ directly in development
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# Uploads (CSVs between preview and import) in the "uploads" storage: a folder (shared by all
# machines) or S3-compatible storage when UPLOADS_S3_BUCKET is set; jobs get a key, not a path.
UPLOADS_ROOT = Path(env.str("UPLOADS_ROOT", default=str(VAR_DIR / "uploads"))).resolve()
UPLOADS_S3_BUCKET = env.str("UPLOADS_S3_BUCKET", default="")
UPLOADS_MAX_AGE_HOURS = env_int("UPLOADS_MAX_AGE_HOURS", 24, minimum=1)  # then unimported: swept
# Exports (CSV, Excel): past this many rows a background job writes the file, kept in the
# uploads storage for EXPORT_MAX_AGE_HOURS.
EXPORT_DIRECT_MAX_ROWS = env_int("EXPORT_DIRECT_MAX_ROWS", 10000, minimum=1)
EXPORT_MAX_AGE_HOURS = env_int("EXPORT_MAX_AGE_HOURS", 24, minimum=1)
if UPLOADS_S3_BUCKET:
    _s3 = {
        "bucket_name": UPLOADS_S3_BUCKET,
        "location": env.str("UPLOADS_S3_PREFIX", default="uploads").strip("/"),
        "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
        "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
        "file_overwrite": False,
        "default_acl": None,
        # An import reads its file from a local temporary copy that spills to disk past this.
        "max_memory_size": 8 << 20,
    }
    STORAGES["uploads"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3}
else:
    STORAGES["uploads"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(UPLOADS_ROOT)},
    }

# Security: production values follow DEBUG, each can be overridden.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Behind one reverse proxy (nginx, a load balancer) that sets X-Forwarded-Proto and appends to
# X-Forwarded-For: HTTPS and the client's address (for login lockouts) are taken from them.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
AXES_CLIENT_IP_CALLABLE = "core.proxy.client_ip" if BEHIND_PROXY else None
RATELIMIT_IP_META_KEY = "core.proxy.client_ip" if BEHIND_PROXY else None
# Public endpoints (core.ratelimits): calls a minute per signed link, per address on the end-user
# pages, per address on the inbound SMS endpoint; past them the answer is 429.
RATELIMIT_VIEW = "core.ratelimits.too_many_requests"
PUBLIC_LINK_RATE_PER_MINUTE = env_int("PUBLIC_LINK_RATE_PER_MINUTE", 30, minimum=1)
PUBLIC_ADDRESS_RATE_PER_MINUTE = env_int("PUBLIC_ADDRESS_RATE_PER_MINUTE", 300, minimum=1)
SMS_INBOUND_RATE_PER_MINUTE = env_int("SMS_INBOUND_RATE_PER_MINUTE", 1200, minimum=1)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"

# Email and SMS.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 1025, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ops@example.com")
SMS_BACKEND = env.str("SMS_BACKEND", default="campaigns.sms.ConsoleBackend")
SMS_PROVIDER_URL = env.str("SMS_PROVIDER_URL", default="")
SMS_PROVIDER_KEY = env.str("SMS_PROVIDER_KEY", default="")
SMS_PROVIDER_TIMEOUT = env_int("SMS_PROVIDER_TIMEOUT", 10, minimum=1)
# FileBackend appends one JSON line per message here.
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms.jsonl"))
# Shared with the SMS provider: inbound replies carry it in X-Sms-Secret (or sign with it).
SMS_INBOUND_SECRET = env.str("SMS_INBOUND_SECRET", default="")
# The channel registry and each channel's provider settings.
from config.channel_settings import *  # noqa: E402, F403

# Signed calls from outside older than this are refused (core.webhooks).
WEBHOOK_MAX_AGE_SECONDS = env_int("WEBHOOK_MAX_AGE_SECONDS", 300, minimum=10)
# Outgoing webhooks' delivery log (campaigns.WebhookDelivery) keeps this many days of attempts.
WEBHOOK_LOG_DAYS = env_int("WEBHOOK_LOG_DAYS", 30, minimum=1)
# Webhook campaigns' posts per second shared by all workers (0: unpaced).
WEBHOOK_RATE_PER_SECOND = env_int("WEBHOOK_RATE_PER_SECOND", 0, minimum=0)

RFM_WINDOW_DAYS = env_int("RFM_WINDOW_DAYS", 365, minimum=1)  # the RFM window in days
# How a segment rule's event counts and sums run: "auto" (chosen per rule from the database's
# estimates, segments.compiler.planning), or forced to "grouped" or "correlated".
SEGMENT_PLAN = env.str("SEGMENT_PLAN", default="auto").strip().lower()
if SEGMENT_PLAN not in ("auto", "grouped", "correlated"):
    raise ImproperlyConfigured(
        f"SEGMENT_PLAN={SEGMENT_PLAN!r} is not one of auto, grouped, correlated."
    )

# Predictions: k of the clusters (0: chosen by silhouette in 3..8) and the association rules'
# minimum support (share of baskets) and confidence.
PREDICTIONS_CLUSTERS = env_int("PREDICTIONS_CLUSTERS", 0)
if PREDICTIONS_CLUSTERS == 1 or PREDICTIONS_CLUSTERS > 20:
    raise ImproperlyConfigured("PREDICTIONS_CLUSTERS must be 0 (choose) or from 2 to 20.")
PREDICTIONS_MIN_SUPPORT = env_fraction("PREDICTIONS_MIN_SUPPORT", 0.005)
PREDICTIONS_MIN_CONFIDENCE = env_fraction("PREDICTIONS_MIN_CONFIDENCE", 0.2)


# Consent: purposes beyond marketing and profiling, and how long links in messages stay valid.
CONSENT_EXTRA_PURPOSES = env_purposes("CONSENT_EXTRA_PURPOSES")
CONSENT_TOKEN_MAX_AGE_DAYS = env_int("CONSENT_TOKEN_MAX_AGE_DAYS", 365, minimum=1)
CONSENT_PREFERENCES_MAX_AGE_DAYS = env_int("CONSENT_PREFERENCES_MAX_AGE_DAYS", 30, minimum=1)
CONSENT_OPT_IN_MAX_AGE_DAYS = env_int("CONSENT_OPT_IN_MAX_AGE_DAYS", 7, minimum=1)
# Events and tracking rows older than this many months are deleted nightly (0 keeps them all).
PERSONAL_DATA_RETENTION_MONTHS = env_int("PERSONAL_DATA_RETENTION_MONTHS", 0, minimum=0)
# The version of the consent wording the end-user pages show, stored with what they record.
CONSENT_NOTICE_VERSION = env.str("CONSENT_NOTICE_VERSION", default="2025-01")
# The port `make run` serves on (the Procfile's runserver; gunicorn reads it too), and the
# address the product is reached at, for links in messages (no trailing slash): by default this
# machine on that port, so that links follow WEB_PORT.
WEB_PORT = env_int("WEB_PORT", 8000, minimum=1)
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{WEB_PORT}").rstrip("/")

# Campaign delivery: guards applied to every message, batching, retries and rate limits.
# The frequency cap counts messages sent to a profile by all campaigns in a rolling window (0: off).
CAMPAIGN_FREQUENCY_CAP = env_int("CAMPAIGN_FREQUENCY_CAP", 3)
CAMPAIGN_FREQUENCY_WINDOW_HOURS = env_int("CAMPAIGN_FREQUENCY_WINDOW_HOURS", 24, minimum=1)
# Messages due in this period (in TIME_ZONE) wait until it ends; empty: no quiet hours.
CAMPAIGN_QUIET_HOURS = env_quiet_hours("CAMPAIGN_QUIET_HOURS")
CAMPAIGN_MAX_ATTEMPTS = env_int("CAMPAIGN_MAX_ATTEMPTS", 5, minimum=1)
CAMPAIGN_RETRY_BASE_SECONDS = env_int("CAMPAIGN_RETRY_BASE_SECONDS", 60, minimum=1)
CAMPAIGN_RETRY_MAX_SECONDS = env_int("CAMPAIGN_RETRY_MAX_SECONDS", 3600, minimum=1)
# Messages per second per channel for all workers together (0: unlimited): the workers share
# one schedule of send slots, in Redis when the broker is Redis, else in the database.
CAMPAIGN_RATE_LIMIT_EMAIL = env_int("CAMPAIGN_RATE_LIMIT_EMAIL", 0)
CAMPAIGN_RATE_LIMIT_SMS = env_int("CAMPAIGN_RATE_LIMIT_SMS", 0)
# Send tasks the tick queues for each campaign with due rows: how many workers send it at once.
CAMPAIGN_WORKERS = env_int("CAMPAIGN_WORKERS", 1, minimum=1)
CAMPAIGN_BATCH_SIZE = env_int("CAMPAIGN_BATCH_SIZE", 500, minimum=1)
# At most this many messages per worker are sent and not yet recorded sent (recorded in groups
# of this many): a worker killed mid-send sends at most this many again (delivery.ledger).
CAMPAIGN_MARK_EVERY = env_int("CAMPAIGN_MARK_EVERY", 100, minimum=1)
CAMPAIGN_SEND_TIME_BUDGET_SECONDS = env_int("CAMPAIGN_SEND_TIME_BUDGET_SECONDS", 30, minimum=1)
CAMPAIGN_CLAIM_STALE_SECONDS = env_int("CAMPAIGN_CLAIM_STALE_SECONDS", 300, minimum=10)
CAMPAIGN_UNSUBSCRIBE_MAILTO = env.str("CAMPAIGN_UNSUBSCRIBE_MAILTO", default="")
# Tracking and results: links in email HTML go through signed redirects plus an open pixel;
# a conversion is this event by a recipient within this many days after the message.
CAMPAIGN_TRACKING = env_bool("CAMPAIGN_TRACKING", True)
CAMPAIGN_CONVERSION_EVENT = env.str("CAMPAIGN_CONVERSION_EVENT", default="purchase")
CAMPAIGN_ATTRIBUTION_DAYS = env_int("CAMPAIGN_ATTRIBUTION_DAYS", 7, minimum=1)
# Email provider webhooks (django-anymail, /anymail/mailgun/tracking/): Mailgun's webhook
# signing key, and optionally a basic-auth "user:password" the provider calls with.
ANYMAIL = {
    key: value
    for key, value in {
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
        "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
    }.items()
    if value
}

# Cache (dashboard aggregates), shared by the web and worker processes: files under VAR_DIR (one
# machine) unless CACHE_URL names e.g. redis://127.0.0.1:6379/1 (several machines must share it;
# ?KEY_PREFIX=name keeps two installations apart in one Redis database).
try:
    CACHES = {"default": env.cache_url("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
except Exception as exc:  # django-environ raises several kinds for a malformed URL
    raise ImproperlyConfigured(f"CACHE_URL is not a cache URL Django can use: {exc}") from exc
if "key_prefix" in CACHES["default"]:  # django-environ lowercases the name Django reads
    CACHES["default"]["KEY_PREFIX"] = CACHES["default"].pop("key_prefix")
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 300, minimum=1)
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 60, minimum=5)

# Celery: the database records the work, broker messages point at it.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_FOLDER = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's file transport with atomic writes and a reader that skips a broken file (core.broker).
    CELERY_BROKER_TRANSPORT = "core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.split("://", 1)[0] not in {
    "redis",
    "rediss",
    "amqp",
    "amqps",
    "pyamqp",
    "memory",
}:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r}: use filesystem://, redis://, or amqp://."
    )
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# One beat per deployment: it ticks only while it holds a lock in the shared cache (core.beat).
CELERY_BEAT_SCHEDULER = "core.beat:SingletonScheduler"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "core.tasks.heartbeat_task", "schedule": 60.0},
    "sweep-jobs": {"task": "core.tasks.job_sweep_task", "schedule": 60.0},
    "sweep-uploads": {"task": "core.tasks.uploads_sweep_task", "schedule": 3600.0},
    "refresh-features": {
        "task": "profiles.tasks.features_refresh_task",
        "schedule": crontab(hour=3, minute=0),  # nightly, in CELERY_TIMEZONE
    },
    "expire-profile-tags": {"task": "profiles.tasks.profile_tags_expire_task", "schedule": 300.0},
    "personal-data-retention": {
        "task": "profiles.tasks.personal_data_retention_task",
        "schedule": crontab(hour=2, minute=30),  # nightly, before the features refresh
    },
    "refresh-predictions": {
        "task": "predictions.tasks.predictions_refresh_task",
        "schedule": crontab(hour=3, minute=30),  # nightly, after the features
    },
    "refresh-due-segments": {"task": "segments.tasks.segments_refresh_due_task", "schedule": 60.0},
    "warm-portrait-base": {"task": "segments.tasks.portrait_base_warm_task", "schedule": 300.0},
    "refresh-dashboard": {
        "task": "journeys.tasks.dashboard_refresh_task",
        "schedule": float(DASHBOARD_REFRESH_SECONDS),
    },
    "refresh-journey-stages": {"task": "journeys.tasks.stages_refresh_task", "schedule": 600.0},
    "campaigns-tick": {"task": "campaigns.tasks.campaigns_tick_task", "schedule": 15.0},
    "campaigns-sweep-sends": {
        "task": "campaigns.tasks.campaign_sends_sweep_task",
        "schedule": 60.0,
    },
    "flows-tick": {"task": "flows.tasks.flows_tick_task", "schedule": 15.0},
    "campaigns-purge-webhook-log": {
        "task": "campaigns.tasks.webhook_deliveries_purge_task",
        "schedule": crontab(hour=2, minute=45),  # nightly, after the personal-data retention
    },
    "campaigns-pick-winners": {
        "task": "campaigns.tasks.campaign_winners_pick_task",
        "schedule": 60.0,
    },
}
FLOW_BATCH_SIZE = env_int("FLOW_BATCH_SIZE", 1000, minimum=1)
FLOW_ADVANCE_TASKS = env_int("FLOW_ADVANCE_TASKS", 4, minimum=1)
FLOW_TIME_BUDGET_SECONDS = env_int("FLOW_TIME_BUDGET_SECONDS", 2, minimum=1)
FLOW_MAX_ENTRIES_PER_DAY = env_int("FLOW_MAX_ENTRIES_PER_DAY", 20, minimum=1)
FLOW_WEBHOOK_SECRET = env.str("FLOW_WEBHOOK_SECRET", default=SECRET_KEY)

JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 300, minimum=10)
# API tokens (core.tokens, `manage.py api_token_create`) stop working after this many days.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90, minimum=1)
API_RATE_PER_MINUTE = env_int("API_RATE_PER_MINUTE", 1200, minimum=1)
API_ANON_RATE_PER_MINUTE = env_int("API_ANON_RATE_PER_MINUTE", 60, minimum=1)

# REST API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "core.tokens.HashedTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Requests per minute per user (API_RATE_PER_MINUTE) or per anonymous address: past it, 429.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttles.UserRateThrottle",
        "core.throttles.AnonRateThrottle",
    ],
    # The client's address: the last X-Forwarded-For entry behind one proxy, else the peer's.
    "NUM_PROXIES": 1 if BEHIND_PROXY else 0,
    # JSON nested deeper than core.jsonlimits.MAX_JSON_DEPTH is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "core.jsonlimits.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

PHONENUMBER_DEFAULT_REGION = env.str("PHONENUMBER_DEFAULT_REGION", default="CN")
# PostgreSQL, import commands and the import job only (never a web request): writer lanes, each a
# thread with its own connection, that write batches while the next is cleaned; 0: no lanes.
INGEST_WRITERS = env_int("INGEST_WRITERS", 2)
# Imports refuse a file with more columns than this, and a row that gives a profile more traits
# than PROFILE_MAX_TRAITS; an update that would take a stored profile past it keeps its traits.
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", 1000, minimum=2)
PROFILE_MAX_TRAITS = env_int("PROFILE_MAX_TRAITS", 500, minimum=1)

# Logs: one line per record on stderr, JSON (time, level, logger, message, request_id, user_id,
# job_id) unless LOG_FORMAT=text; the Celery worker and beat use the same (no root hijack).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not json or text.")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r} is not DEBUG, INFO, WARNING, ERROR or CRITICAL."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "core.logs.JsonFormatter"},
        "text": {
            "()": "core.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Errors to Sentry (web and workers) only when a DSN is set; no personal data is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.utils import BadDsn

    try:
        sentry_sdk.init(
            dsn=SENTRY_DSN,
            environment=SENTRY_ENVIRONMENT,
            integrations=[DjangoIntegration(), CeleryIntegration()],
            send_default_pii=False,
        )
    except BadDsn as exc:
        raise ImproperlyConfigured(f"SENTRY_DSN is not a Sentry DSN: {exc}") from None
