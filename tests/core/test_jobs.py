"""Jobs: the database row is the record; a claim is a compare-and-set; the sweep finds lost work."""

import datetime

import pytest
from django.utils import timezone

from core.errors import error_code, error_text
from core.jobs import (
    ERROR_NOT_CALLABLE,
    ERROR_UNKNOWN_KIND,
    job_handler,
    job_handler_register,
    job_kind,
)
from core.models import Job, JobStatus
from core.services import ERROR_GAVE_UP, MAX_ATTEMPTS, job_enqueue, job_run, job_sweep

pytestmark = pytest.mark.django_db


@job_handler_register("tests.failing")
def failing_handler(*, job, report):
    raise ValueError("line 3: the date '2024-13-01' is not a valid date")


def test_an_enqueued_job_runs_after_commit_and_records_its_result(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(kind="core.selftest", payload={"steps": 4})

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.result == {"steps": 4}
    assert job.progress == 4
    assert job.percent == 100


def test_a_job_is_run_only_once_even_if_its_message_arrives_twice():
    job = Job.objects.create(kind="core.selftest", payload={"steps": 1})

    first = job_run(job_id=job.pk)
    second = job_run(job_id=job.pk)

    assert first.status == JobStatus.DONE
    assert second is None
    job.refresh_from_db()
    assert job.attempts == 1


def test_a_failing_job_is_marked_failed_with_its_error():
    job = Job.objects.create(kind="tests.failing")

    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "2024-13-01" in job.error


def test_an_unknown_kind_names_the_kind():
    with pytest.raises(LookupError) as raised:
        job_handler("no-such-kind")

    assert str(raised.value) == ERROR_UNKNOWN_KIND.format(kind="no-such-kind")


def test_a_handler_is_registered_by_the_function_itself():
    def handler(*, job, report):
        return {"ran": job}

    returned = job_kind("tests.by_function", handler)

    assert returned is handler
    assert job_handler("tests.by_function") is handler


def test_the_decorator_registers_the_function_and_leaves_it_callable():
    assert job_handler("tests.failing") is failing_handler
    with pytest.raises(ValueError, match="2024-13-01"):
        failing_handler(job=None, report=None)


def test_a_dotted_path_is_refused():
    with pytest.raises(TypeError) as raised:
        job_kind("tests.dotted", "core.services.selftest_job")

    assert str(raised.value) == ERROR_NOT_CALLABLE.format(
        kind="tests.dotted", handler="core.services.selftest_job"
    )
    with pytest.raises(LookupError):
        job_handler("tests.dotted")


def test_every_app_registers_its_handlers_as_functions():
    from core.services import selftest_job
    from journeys.services import STAGES_JOB_KIND, stages_job
    from profiles.ingest.job import import_job
    from profiles.services.features import features_job
    from profiles.services.tags import tag_bulk_job

    assert job_handler("core.selftest") is selftest_job
    assert job_handler("profiles.import") is import_job
    assert job_handler("profiles.tags_bulk") is tag_bulk_job
    assert job_handler("profiles.features") is features_job
    assert job_handler(STAGES_JOB_KIND) is stages_job


def test_the_sweep_restarts_a_job_whose_worker_died(settings):
    stale = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        kind="core.selftest",
        payload={"steps": 2},
        status=JobStatus.RUNNING,
        heartbeat_at=stale,
        attempts=1,
    )

    outcome = job_sweep()

    job.refresh_from_db()
    assert outcome["restarted"] == 1
    assert job.status == JobStatus.DONE  # eager in tests: the re-sent message ran at once
    assert job.attempts == 2


def test_the_sweep_gives_up_after_the_last_attempt(settings):
    stale = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        kind="core.selftest", status=JobStatus.RUNNING, heartbeat_at=stale, attempts=MAX_ATTEMPTS
    )

    outcome = job_sweep()

    job.refresh_from_db()
    assert outcome["failed"] == 1
    assert job.status == JobStatus.FAILED
    assert error_code(job.error) == "job.gave_up"
    assert error_text(job.error, translate=False) == ERROR_GAVE_UP.format(attempts=MAX_ATTEMPTS)


def test_the_sweep_leaves_a_running_job_with_a_fresh_heartbeat_alone():
    job = Job.objects.create(
        kind="core.selftest", status=JobStatus.RUNNING, heartbeat_at=timezone.now(), attempts=1
    )

    outcome = job_sweep()

    job.refresh_from_db()
    assert outcome == {"resent": 0, "restarted": 0, "failed": 0}
    assert job.status == JobStatus.RUNNING


def test_the_selftest_page_queues_a_job_and_shows_its_progress(ops_client):
    response = ops_client.post("/jobs/selftest/", follow=True)

    assert response.status_code == 200
    job = Job.objects.get(kind="core.selftest")
    assert response.redirect_chain[-1][0] == f"/jobs/{job.pk}/"
    assert b"<progress" in response.content


def test_a_running_job_shows_its_progress_message_in_the_readers_language(admin_client):
    # Given: a prediction refresh at its "models" phase (the code its handler reports).
    from predictions.services import REFRESH_JOB_KIND

    job = Job.objects.create(
        kind=REFRESH_JOB_KIND, status=JobStatus.RUNNING, progress=1, total=5, message="models"
    )

    # When: its page is read in Chinese and in English.
    chinese = admin_client.get(f"/jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    english = admin_client.get(f"/jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en")

    # Then: the phase is named, not shown as its code.
    assert "拟合并比较购买模型" in chinese.content.decode()
    assert "Fitting and comparing the purchase models" in english.content.decode()
    assert ">models<" not in chinese.content.decode()
