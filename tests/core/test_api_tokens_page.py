"""Each user makes, lists and revokes their own API tokens on a page: the key is shown once and
kept only as a digest; a token stops working at its expiry or when revoked."""

import datetime
import hashlib
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken
from core.token_views import ERROR_EXPIRY_PAST
from core.tokens import ERROR_TOKEN_EXPIRED, api_token_create

pytestmark = pytest.mark.django_db


def _key_shown(page: str) -> str:
    return re.search(r'data-testid="token-key">([0-9a-f]{40})<', page).group(1)


def _api(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/tags/")


def test_a_token_made_on_the_page_is_shown_once_and_stored_as_a_digest(ops_client, ops_user):
    expires_on = timezone.localdate() + datetime.timedelta(days=30)

    response = ops_client.post(
        reverse("api-tokens"), {"name": "warehouse sync", "expires_on": expires_on.isoformat()}
    )

    key = _key_shown(response.content.decode())
    token = ApiToken.objects.get(user=ops_user)
    assert token.name == "warehouse sync"
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert timezone.localtime(token.expires_at).date() == expires_on + datetime.timedelta(days=1)
    assert "no-store" in response["Cache-Control"]
    again = ops_client.get(reverse("api-tokens")).content.decode()
    assert key not in again
    assert token.prefix in again
    assert _api(key).status_code == 200


def test_a_token_from_the_page_is_refused_by_the_api_once_expired(ops_client, ops_user):
    expires_on = timezone.localdate() + datetime.timedelta(days=2)
    response = ops_client.post(
        reverse("api-tokens"), {"name": "short", "expires_on": expires_on.isoformat()}
    )
    key = _key_shown(response.content.decode())

    with time_machine.travel(timezone.now() + datetime.timedelta(days=4), tick=False):
        refused = _api(key)
        ops_client.force_login(ops_user)  # the session itself is older than SESSION_HOURS
        page = ops_client.get(reverse("api-tokens"), HTTP_ACCEPT_LANGUAGE="en")

    assert refused.status_code == 403
    assert refused.json()["detail"] == str(ERROR_TOKEN_EXPIRED)
    assert "expired" in page.content.decode()


@pytest.mark.parametrize("days", [0, -3])
def test_an_expiry_that_is_not_after_today_is_refused(ops_client, days):
    expires_on = timezone.localdate() + datetime.timedelta(days=days)

    response = ops_client.post(
        reverse("api-tokens"),
        {"name": "bad", "expires_on": expires_on.isoformat()},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    assert str(ERROR_EXPIRY_PAST) in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_revoked_token_stops_working(ops_client, ops_user):
    token, key = api_token_create(user=ops_user, name="old")

    ops_client.post(reverse("api-token-revoke", args=[token.pk]))

    assert not ApiToken.objects.exists()
    assert _api(key).status_code == 403


def test_a_user_neither_sees_nor_revokes_another_users_tokens(ops_client, campaign_manager):
    token, key = api_token_create(user=campaign_manager, name="carl's")

    page = ops_client.get(reverse("api-tokens")).content.decode()
    ops_client.post(reverse("api-token-revoke", args=[token.pk]))

    assert token.prefix not in page
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert _api(key).status_code == 200


def test_the_page_links_to_the_api_docs(ops_client):
    page = ops_client.get(reverse("api-tokens")).content.decode()

    assert f'href="{reverse("api:docs")}"' in page


@pytest.mark.parametrize(
    ("persona", "status"),
    [("ops_user", 200), ("campaign_manager", 200), ("consent_admin", 200), ("outsider", 403)],
)
def test_the_page_is_open_to_every_role_and_refuses_the_others(client, request, persona, status):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(reverse("api-tokens")).status_code == status
