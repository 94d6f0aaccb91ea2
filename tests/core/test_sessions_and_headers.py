"""Sessions end sooner for privileged roles, every answer carries a Permissions-Policy, and the
API slows down a client that sends too much."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def log_in(client, user):
    return client.post(reverse("login"), {"username": user.username, "password": PASSWORD})


def test_every_answer_forbids_the_browser_features_the_product_never_uses(client, ops_user):
    client.force_login(ops_user)

    page = client.get("/profiles/")
    login = client.get(reverse("login"))

    for response in (page, login):
        policy = response["Permissions-Policy"]
        assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy


def test_a_session_lasts_session_hours(client, ops_user, settings):
    response = log_in(client, ops_user)

    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == 12 * 3600


@pytest.mark.parametrize("persona", ["consent_admin", "superuser"])
def test_a_privileged_session_ends_when_the_browser_closes(client, request, settings, persona):
    user = (
        UserFactory(username="sue-super", is_superuser=True)
        if persona == "superuser"
        else request.getfixturevalue(persona)
    )

    response = log_in(client, user)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""
    assert client.session.get_expire_at_browser_close()


def test_a_privileged_session_left_idle_past_the_limit_is_signed_out(
    client, consent_admin, settings
):
    settings.PRIVILEGED_SESSION_IDLE_MINUTES = 30
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        client.force_login(consent_admin)
        assert client.get("/profiles/consent/").status_code == 200
    with time_machine.travel(start + datetime.timedelta(minutes=29), tick=False):
        assert client.get("/profiles/consent/").status_code == 200

    with time_machine.travel(start + datetime.timedelta(minutes=60), tick=False):
        response = client.get("/profiles/consent/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_an_ordinary_session_is_not_cut_short_by_the_privileged_idle_limit(
    client, ops_user, settings
):
    settings.PRIVILEGED_SESSION_IDLE_MINUTES = 30
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        client.force_login(ops_user)
        client.get("/profiles/")

    with time_machine.travel(start + datetime.timedelta(hours=2), tick=False):
        response = client.get("/profiles/")

    assert response.status_code == 200


def test_an_api_client_past_its_rate_is_answered_429_with_when_to_retry(ops_user, settings):
    settings.API_RATE_PER_MINUTE = 3
    client = APIClient()
    client.force_authenticate(ops_user)

    answers = [client.get("/api/v1/tags/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0


def test_the_api_counts_the_peer_address_not_one_the_client_claims():
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory
    from rest_framework.throttling import AnonRateThrottle

    request = APIRequestFactory().get(
        "/", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="6.6.6.6"
    )

    assert AnonRateThrottle().get_ident(Request(request)) == "198.51.100.4"
