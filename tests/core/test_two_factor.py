"""Superusers and consent admins pass a TOTP code after their password (django-otp) before any
page; they enrol from a page showing a QR code and the secret. Other roles need no second step."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.two_factor import ERROR_WRONG_CODE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def code(device: TOTPDevice, *, step_offset: int = 0) -> str:
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits,
                 drift=device.drift + step_offset)  # fmt: skip
    return f"{value:0{device.digits}d}"


def password_login(user) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def superuser(db):
    return UserFactory(username="sue-super", is_superuser=True, is_staff=True)


def test_a_superuser_without_a_device_is_sent_to_enrol_before_any_page(superuser):
    client = password_login(superuser)

    response = client.get("/profiles/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two-factor-setup"))


def test_enrolment_shows_the_qr_code_and_secret_and_a_first_code_confirms_the_device(superuser):
    client = password_login(superuser)

    page = client.get(reverse("two-factor-setup"))
    device = TOTPDevice.objects.get(user=superuser)
    confirmed = client.post(reverse("two-factor-setup"), {"token": code(device)})

    html = page.content.decode()
    assert "<svg" in html
    assert re.search(r"[A-Z2-7]{32}", html)  # the secret, in base32, to type in by hand
    assert confirmed.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/profiles/").status_code == 200


def test_a_consent_admin_with_a_device_is_asked_for_a_code_and_let_in_with_the_right_one(
    consent_admin,
):
    device = TOTPDevice.objects.create(user=consent_admin, name="phone", confirmed=True)
    client = password_login(consent_admin)

    asked = client.get("/profiles/consent/")
    verified = client.post(
        reverse("two-factor-verify"), {"token": code(device), "next": "/profiles/consent/"}
    )

    assert asked["Location"].startswith(reverse("two-factor-verify"))
    assert verified["Location"] == "/profiles/consent/"
    assert client.get("/profiles/consent/").status_code == 200


def test_a_wrong_code_is_refused_and_the_pages_stay_closed(consent_admin):
    device = TOTPDevice.objects.create(user=consent_admin, name="phone", confirmed=True)
    client = password_login(consent_admin)

    response = client.post(reverse("two-factor-verify"), {"token": code(device, step_offset=20)})

    assert response.status_code == 200
    assert str(ERROR_WRONG_CODE) in response.content.decode()
    assert client.get("/profiles/consent/").status_code == 302


def test_an_unconfirmed_device_does_not_let_anyone_skip_enrolment(consent_admin):
    device = TOTPDevice.objects.create(user=consent_admin, name="phone", confirmed=False)
    client = password_login(consent_admin)

    response = client.post(reverse("two-factor-verify"), {"token": code(device)})

    assert response["Location"] == reverse("two-factor-setup")
    assert client.get("/profiles/consent/")["Location"].startswith(reverse("two-factor-setup"))


def test_before_the_second_step_the_api_refuses_the_session(consent_admin):
    TOTPDevice.objects.create(user=consent_admin, name="phone", confirmed=True)
    client = password_login(consent_admin)

    response = client.get("/api/v1/tags/")

    assert response.status_code == 403


def test_before_the_second_step_one_may_still_log_out(consent_admin):
    client = password_login(consent_admin)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_other_roles_log_in_with_their_password_alone(ops_user, campaign_manager):
    for user in (ops_user, campaign_manager):
        client = password_login(user)

        assert client.get("/profiles/").status_code == 200
