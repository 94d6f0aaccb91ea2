"""Login lockouts count the client's address (behind a proxy, the one it saw), and one address
trying password after password across many usernames is stopped too."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.2"


def attempt(client, username, password, *, address="198.51.100.4", forwarded=None):
    headers = {"REMOTE_ADDR": address}
    if forwarded:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    client.logout()
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


def test_one_address_trying_one_password_on_many_accounts_is_stopped(client, ops_user, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for number in range(3):
        attempt(client, f"guess-{number}", "Summer2026!", address="203.0.113.9")

    stopped = attempt(client, ops_user.username, PASSWORD, address="203.0.113.9")
    elsewhere = attempt(client, ops_user.username, PASSWORD, address="198.51.100.4")

    assert stopped.status_code == 429
    assert elsewhere.status_code == 302


def test_a_few_mistakes_from_one_address_do_not_stop_it(client, ops_user, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for number in range(2):
        attempt(client, f"typo-{number}", "wrong", address="203.0.113.9")

    response = attempt(client, ops_user.username, PASSWORD, address="203.0.113.9")

    assert response.status_code == 302


def test_behind_the_proxy_one_client_cannot_lock_an_account_for_everyone(
    client, ops_user, settings
):
    settings.AXES_CLIENT_IP_CALLABLE = "core.proxy.client_ip"
    settings.RATELIMIT_IP_META_KEY = "core.proxy.client_ip"
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, ops_user.username, "wrong", address=PROXY, forwarded="203.0.113.9")

    attacker = attempt(client, ops_user.username, PASSWORD, address=PROXY, forwarded="203.0.113.9")
    owner = attempt(client, ops_user.username, PASSWORD, address=PROXY, forwarded="198.51.100.7")

    assert attacker.status_code == 429
    assert owner.status_code == 302


def test_behind_the_proxy_the_address_limit_counts_each_client_apart(client, settings):
    settings.AXES_CLIENT_IP_CALLABLE = "core.proxy.client_ip"
    settings.RATELIMIT_IP_META_KEY = "core.proxy.client_ip"
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    user = UserFactory(username="pat")
    for number in range(3):
        attempt(client, f"guess-{number}", "x", address=PROXY, forwarded="203.0.113.9")

    response = attempt(client, user.username, PASSWORD, address=PROXY, forwarded="198.51.100.7")

    assert response.status_code == 302
