"""GET /healthz reports database, broker and worker status without login."""

import pytest
from django.utils import timezone

from config.celery import app
from core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_it_answers_200_with_database_and_broker_status_without_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["worker"]["last_seen"] is None


def test_it_reports_the_last_worker_heartbeat(client):
    WorkerHeartbeat.objects.create(hostname="w1", seen_at=timezone.now())

    body = client.get("/healthz").json()

    assert body["worker"]["host"] == "w1"
    assert body["worker"]["age_seconds"] < 60


def test_it_answers_503_when_the_broker_cannot_be_reached(client):
    original = app.conf.broker_url, app.conf.broker_write_url, app.conf.broker_transport
    app.conf.broker_url = app.conf.broker_write_url = "redis://127.0.0.1:1/0"  # nothing on port 1
    app.conf.broker_transport = None  # as settings leave it for a redis:// URL
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url, app.conf.broker_write_url, app.conf.broker_transport = original

    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
