"""API tokens are kept only as a digest, expire, and keep the `Authorization: Token <key>` use."""

import datetime
import hashlib
import importlib
import io

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken
from core.tokens import ERROR_TOKEN_EXPIRED, ERROR_TOKEN_INVALID, api_token_create

pytestmark = pytest.mark.django_db


def get_tags(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/tags/")


def test_a_token_is_stored_only_as_a_digest_of_its_key(ops_user):
    token, key = api_token_create(user=ops_user, name="warehouse sync")

    stored = ApiToken.objects.values().get(pk=token.pk)

    assert len(key) == 40
    assert key not in str(stored)
    assert stored["digest"] == hashlib.sha256(key.encode()).hexdigest()
    assert stored["prefix"] == key[:8]


def test_a_token_lets_its_user_call_the_api_until_it_expires(ops_user, settings):
    settings.API_TOKEN_DAYS = 30
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token, key = api_token_create(user=ops_user)
        assert get_tags(key).status_code == 200

    with time_machine.travel(start + datetime.timedelta(days=31), tick=False):
        expired = get_tags(key)

    assert token.expires_at == start + datetime.timedelta(days=30)
    assert expired.status_code == 403
    assert expired.json()["detail"] == str(ERROR_TOKEN_EXPIRED)


@pytest.mark.parametrize("key", ["not-a-real-token", "0" * 40])
def test_an_unknown_key_is_refused(ops_user, key):
    api_token_create(user=ops_user)

    response = get_tags(key)

    assert response.status_code == 403
    assert response.json()["detail"] == str(ERROR_TOKEN_INVALID)


def test_a_deleted_token_or_an_inactive_user_is_refused(ops_user, campaign_manager):
    deleted, deleted_key = api_token_create(user=ops_user)
    _token, inactive_key = api_token_create(user=campaign_manager)
    deleted.delete()
    campaign_manager.is_active = False
    campaign_manager.save()

    assert get_tags(deleted_key).status_code == 403
    assert get_tags(inactive_key).status_code == 403


def test_the_command_shows_a_new_key_once_and_keeps_its_digest(ops_user):
    out = io.StringIO()

    call_command("api_token_create", ops_user.username, "--days", "7", "--name", "bi", stdout=out)

    key = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert (token.name, token.user) == ("bi", ops_user)
    assert get_tags(key).status_code == 200


def test_plaintext_tokens_left_by_drf_are_turned_into_digests_and_deleted(ops_user, settings):
    settings.API_TOKEN_DAYS = 90
    move = importlib.import_module("core.migrations.0003_api_tokens").plaintext_tokens_move
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, "
            "user_id integer)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            ["a" * 40, timezone.now(), ops_user.pk],
        )

    from django.apps import apps

    move(apps, connection.schema_editor())

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        left = cursor.fetchone()[0]
        cursor.execute("DROP TABLE authtoken_token")
    assert left == 0
    assert get_tags("a" * 40).status_code == 200
