"""An upload received by the web process is imported by a worker on another "machine".

The worker runs in a working directory and VAR_DIR of its own; the only thing it shares with the
web process is the uploads storage (a folder standing in for object storage), the database and
the broker. The job carries a storage key, never a path.
"""

import shutil

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from config.celery import app
from core.models import Job, JobStatus
from profiles import ingest
from profiles.models import Profile
from tests.conftest import wait_for, worker_start, worker_stop

pytestmark = pytest.mark.worker

PROFILES = "external_id,name,city\nm-1,王芳,上海\nm-2,李雷,北京\nm-3,,\n"


@pytest.fixture
def worker_elsewhere(transactional_db, tmp_path, uploads_root):
    """Start a worker whose working directory and VAR_DIR are another temporary folder."""
    machine = tmp_path / "machine-2"
    machine.mkdir()
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
        shutil.rmtree(django_settings.CELERY_BROKER_FOLDER, ignore_errors=True)
    process = worker_start(
        tmp_path / "worker.log",
        cwd=machine,
        env={"VAR_DIR": str(machine / "var"), "UPLOADS_ROOT": str(uploads_root)},
    )
    app.conf.task_always_eager = False  # send through the broker, not inline
    try:
        yield machine
    finally:
        app.conf.task_always_eager = True
        worker_stop(process)


def test_an_upload_is_imported_by_a_worker_with_its_own_working_directory(
    ops_client, worker_elsewhere, uploads_root, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "web-media"
    file = SimpleUploadedFile("people.csv", PROFILES.encode("utf-8"), content_type="text/csv")
    upload_id = ops_client.post("/profiles/import/", {"kind": "profiles", "file": file}).context[
        "upload_id"
    ]
    stored = list(uploads_root.rglob("*.csv"))

    ops_client.post("/profiles/import/confirm/", {"upload_id": upload_id, "kind": "profiles"})

    def job_finished():
        """the worker in the other working directory to finish the import"""
        return Job.objects.filter(
            kind=ingest.IMPORT_JOB_KIND, status__in=[JobStatus.DONE, JobStatus.FAILED]
        ).first()

    job = wait_for(job_finished)
    assert job.status == JobStatus.DONE, job.error
    assert job.payload == {"key": f"imports/{upload_id}.csv", "kind": "profiles", "name": ""}
    assert [path.name for path in stored] == [f"{upload_id}.csv"]
    assert job.result["created"] == 3
    assert job.progress == job.total == 3
    assert dict(Profile.objects.values_list("external_id", "city")) == {
        "m-1": "上海",
        "m-2": "北京",
        "m-3": "",
    }
    assert not list(uploads_root.rglob("*.csv"))
    assert not settings.MEDIA_ROOT.exists()
