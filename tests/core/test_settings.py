"""Settings come from the environment; bad values are refused; production passes check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "q8Zr!t6v-Xk2pL0w#9sYhE4mN7bC1dF3gJ5uA8iO2eR6yT0zQ_",
    "ALLOWED_HOSTS": "ops.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    dropped = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE='Mars/Olympus' is not an IANA time zone"),
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"DEBUG": "false", "SECRET_KEY": "short"}, "at least 50 characters"),
        ({"CELERY_BROKER_URL": "carrier-pigeon://coop"}, "CELERY_BROKER_URL"),
        ({"LANGUAGE_CODE": "fr"}, "LANGUAGE_CODE='fr'"),
        ({"EMAIL_PORT": "twenty-five"}, "EMAIL_PORT='twenty-five' is not a whole number"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not json or text"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='LOUD' is not DEBUG"),
    ],
)
def test_a_bad_setting_is_refused_with_a_message_naming_it(env, message):
    result = manage("check", **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


@pytest.mark.django_db
def test_the_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


SENTRY_STATE = "import sentry_sdk; print(sentry_sdk.is_initialized())"


def test_sentry_is_not_initialised_without_a_dsn():
    result = manage("shell", "-c", SENTRY_STATE, SENTRY_DSN="")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


def test_sentry_is_initialised_with_a_dsn():
    dsn = "http://public@127.0.0.1:9/1"  # loopback, nothing listens: no event is sent anyway

    result = manage("shell", "-c", SENTRY_STATE, SENTRY_DSN=dsn)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "True"


def test_a_malformed_sentry_dsn_is_refused():
    result = manage("check", SENTRY_DSN="not-a-dsn")

    assert result.returncode != 0
    assert "SENTRY_DSN is not a Sentry DSN" in result.stderr


def test_behind_a_proxy_https_and_the_client_address_come_from_its_headers():
    show = (
        "from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER, s.AXES_CLIENT_IP_CALLABLE, s.RATELIMIT_IP_META_KEY)"
    )

    behind = manage("shell", "-c", show, BEHIND_PROXY="true")
    direct = manage("shell", "-c", show, BEHIND_PROXY="false")

    assert behind.stdout.splitlines()[-1] == (
        "('HTTP_X_FORWARDED_PROTO', 'https') core.proxy.client_ip core.proxy.client_ip"
    )
    assert direct.stdout.splitlines()[-1] == "None None None"
