"""Log lines are JSON with the request, user and job; the request id travels into its tasks."""

import io
import json
import logging
import re

import pytest
from rest_framework.test import APIClient

from config.celery import app
from core import logs
from core.models import Job, JobStatus
from core.tokens import api_token_create
from tests.conftest import wait_for


@pytest.fixture
def json_lines():
    """Capture the root logger's lines as the production handler formats them; return a reader."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


def test_a_line_has_time_level_logger_message_and_the_context(json_lines):
    with logs.log_context(request_id="r-1", user_id=7, job_id=42):
        logging.getLogger("ops.example").warning("stock %s low", "ink")
    logging.getLogger("ops.example").info("outside")

    first, second = json_lines()

    assert first["level"] == "WARNING"
    assert first["logger"] == "ops.example"
    assert first["message"] == "stock ink low"
    assert (first["request_id"], first["user_id"], first["job_id"]) == ("r-1", 7, 42)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert (second["request_id"], second["user_id"], second["job_id"]) == (None, None, None)


def test_an_exception_is_kept_in_the_line(json_lines):
    try:
        raise ValueError("broken pipe")
    except ValueError:
        logging.getLogger("ops.example").exception("sending failed")

    (line,) = json_lines()

    assert line["message"] == "sending failed"
    assert "ValueError: broken pipe" in line["exception"]


@pytest.mark.django_db
def test_a_request_keeps_a_sane_given_id_and_returns_it(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a.1")

    assert response["X-Request-ID"] == "edge-7f3a.1"


@pytest.mark.django_db
def test_a_request_with_no_or_an_insane_id_gets_a_new_one(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="<script>" + "x" * 80)
    none = client.get("/healthz")

    assert re.fullmatch(r"[0-9a-f]{32}", given["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", none["X-Request-ID"])
    assert given["X-Request-ID"] != none["X-Request-ID"]


def test_a_request_and_its_eager_job_log_the_request_and_user(
    transactional_db, ops_client, ops_user, json_lines
):
    # Autocommit, as in production: the job is queued (and run, eagerly) inside the request.
    response = ops_client.post("/jobs/selftest/", HTTP_X_REQUEST_ID="req-eager-1")

    job = Job.objects.get()
    done = [line for line in json_lines() if line["message"].endswith("done")]
    assert response.status_code == 302
    assert job.status == JobStatus.DONE
    assert [(d["request_id"], d["user_id"], d["job_id"]) for d in done] == [
        ("req-eager-1", ops_user.pk, job.pk)
    ]


def test_a_published_task_carries_the_request_and_user_ids_in_its_headers():
    headers = {}

    with logs.log_context(request_id="req-publish-1", user_id=12):
        logs._context_into_task(headers=headers)
    logs._context_into_task(headers=(untouched := {}))

    assert headers == {"request_id": "req-publish-1", "user_id": 12}
    assert untouched == {}


@pytest.mark.worker
def test_the_worker_logs_a_queued_job_with_the_request_id_of_its_request(
    celery_worker_process, ops_client, ops_user
):
    app.conf.task_always_eager = False  # through the broker to the worker process
    try:
        response = ops_client.post("/jobs/selftest/", HTTP_X_REQUEST_ID="req-worker-1")
        job = Job.objects.get()

        def job_finished():
            """the worker to finish the self-test job"""
            return Job.objects.filter(pk=job.pk, status=JobStatus.DONE).exists()

        wait_for(job_finished)
    finally:
        app.conf.task_always_eager = True

    def job_lines():
        """the worker's log lines of the job"""
        text = celery_worker_process.log_path.read_text(errors="replace")
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        found = [line for line in lines if line["job_id"] == job.pk]
        return found if any(line["message"].endswith("done") for line in found) else None

    lines = wait_for(job_lines, timeout=10)
    assert response["X-Request-ID"] == "req-worker-1"
    assert {line["request_id"] for line in lines} == {"req-worker-1"}
    assert {line["user_id"] for line in lines} == {ops_user.pk}
    assert {line["logger"] for line in lines} == {"core.services"}


@pytest.mark.django_db
def test_each_request_writes_one_access_line_with_its_id_and_user(ops_client, ops_user, json_lines):
    response = ops_client.get("/jobs/", HTTP_X_REQUEST_ID="req-access-1")

    access = [line for line in json_lines() if line["logger"] == "core.access"]
    assert response.status_code == 200
    assert len(access) == 1
    assert access[0]["message"].startswith("GET /jobs/ 200 ")
    assert (access[0]["request_id"], access[0]["user_id"]) == ("req-access-1", ops_user.pk)


@pytest.mark.django_db
def test_the_access_line_of_a_token_request_names_the_token_user(ops_user, json_lines):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=ops_user)[1]}")

    response = client.get("/api/v1/tags/", HTTP_X_REQUEST_ID="req-token-1")

    (access,) = [line for line in json_lines() if line["logger"] == "core.access"]
    assert response.status_code == 200
    assert (access["request_id"], access["user_id"]) == ("req-token-1", ops_user.pk)
