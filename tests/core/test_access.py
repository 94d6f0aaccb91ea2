"""Every page needs a login except those meant for end users; roles are Django groups."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from core import roles

pytestmark = pytest.mark.django_db

STAFF_PAGES = [
    "/",
    "/profiles/",
    "/segments/",
    "/campaigns/",
    "/journeys/",
    "/jobs/",
    "/profiles/consent/",
]


def test_the_role_groups_named_in_product_md_exist():
    names = set(Group.objects.values_list("name", flat=True))

    assert {"ops", "campaign_manager", "consent_admin"} <= names


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/"])
def test_the_api_refuses_anonymous_requests(client, path):
    response = client.get(path)

    assert response.status_code in (401, 403)


@pytest.mark.parametrize("path", ["/", "/profiles/", "/segments/", "/campaigns/", "/journeys/"])
def test_ops_staff_can_open_the_working_pages(ops_client, path):
    response = ops_client.get(path)

    assert response.status_code == 200


def test_only_consent_admins_open_the_consent_section(client, ops_user, consent_admin):
    client.force_login(ops_user)
    refused = client.get("/profiles/consent/")
    client.force_login(consent_admin)
    allowed = client.get("/profiles/consent/")

    assert refused.status_code == 403
    assert allowed.status_code == 200


def test_a_user_logs_in_with_the_login_form_and_lands_on_the_dashboard(client, ops_user):
    response = client.post(
        reverse("login"),
        {"username": ops_user.username, "password": "correct horse battery staple"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("home")
    assert response.context["user"] == ops_user


def test_repeated_failed_logins_lock_the_account_out(client, ops_user, settings):
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": ops_user.username, "password": "wrong"})

    response = client.post(
        reverse("login"),
        {"username": ops_user.username, "password": "correct horse battery staple"},
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_user_changes_their_password(client, ops_user):
    client.force_login(ops_user)

    response = client.post(
        reverse("password_change"),
        {
            "old_password": "correct horse battery staple",
            "new_password1": "a much longer passphrase 42",
            "new_password2": "a much longer passphrase 42",
        },
    )

    assert response.status_code == 302
    ops_user.refresh_from_db()
    assert ops_user.check_password("a much longer passphrase 42")


def test_role_helpers_treat_superusers_as_every_role(django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "x" * 12)

    assert roles.user_has_role(boss, roles.CONSENT_ADMIN)
