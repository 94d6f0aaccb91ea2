"""GET /healthz: the status code and "ok"/"fail" for anyone, the details only for staff."""

import pytest
from django.utils import timezone

from config.celery import app
from core.models import WorkerHeartbeat
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="sam-staff", is_staff=True))
    return client


@pytest.fixture
def broker_down():
    original = app.conf.broker_url, app.conf.broker_write_url, app.conf.broker_transport
    app.conf.broker_url = app.conf.broker_write_url = "redis://127.0.0.1:1/0"  # nothing on port 1
    app.conf.broker_transport = None  # as settings leave it for a redis:// URL
    yield
    app.conf.broker_url, app.conf.broker_write_url, app.conf.broker_transport = original


def test_an_anonymous_caller_gets_200_and_ok_without_details(client):
    WorkerHeartbeat.objects.create(hostname="w1", seen_at=timezone.now())

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"ok"


def test_a_signed_in_user_who_is_not_staff_gets_no_details(ops_client):
    response = ops_client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"


def test_an_anonymous_caller_gets_503_and_fail_when_the_broker_is_down(client, broker_down):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.content == b"fail"


def test_staff_get_database_broker_and_worker_status(staff_client):
    response = staff_client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["worker"]["last_seen"] is None


def test_staff_see_the_last_worker_heartbeat(staff_client):
    WorkerHeartbeat.objects.create(hostname="w1", seen_at=timezone.now())

    body = staff_client.get("/healthz").json()

    assert body["worker"]["host"] == "w1"
    assert body["worker"]["age_seconds"] < 60


def test_staff_see_which_part_is_down_with_503(staff_client, broker_down):
    response = staff_client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["broker"]["ok"] is False
    assert response.json()["database"]["ok"] is True
