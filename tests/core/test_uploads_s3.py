"""Uploads in S3-compatible object storage: moto's S3 server on loopback, via django-storages."""

import io
import socket
from datetime import timedelta

import pytest

from core.models import Job, JobStatus
from core.services import JobReporter
from core.uploads import upload_exists, upload_open, upload_save, uploads_storage, uploads_sweep
from profiles.ingest import IMPORT_JOB_KIND, import_job
from profiles.models import Profile

pytestmark = pytest.mark.django_db
BUCKET = "ops-uploads"


@pytest.fixture(scope="module")
def s3_endpoint():
    """Run an S3-compatible server on a free loopback port; return its URL."""
    server_module = pytest.importorskip("moto.server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_uploads(settings, s3_endpoint):
    import boto3

    options = {
        "bucket_name": BUCKET, "location": "uploads", "endpoint_url": s3_endpoint,
        "region_name": "us-east-1", "access_key": "testing", "secret_key": "testing",
        "file_overwrite": False, "default_acl": None, "max_memory_size": 1024,
    }  # fmt: skip
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def objects(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_an_upload_in_object_storage_is_imported_by_key_and_then_deleted(s3_uploads):
    rows = "".join(f"s-{i},用户{i},上海\n" for i in range(300))  # past the 1 KB in memory
    key = upload_save(file=io.BytesIO(("\ufeffexternal_id,name,city\n" + rows).encode()))
    stored = objects(s3_uploads)
    job = Job.objects.create(kind=IMPORT_JOB_KIND, payload={"key": key, "kind": "profiles"})

    result = import_job(job=job, report=JobReporter(job))

    assert stored == [f"uploads/{key}"]
    assert result["created"] == 300
    assert job.total == 300
    assert Profile.objects.get(external_id="s-299").name == "用户299"
    assert objects(s3_uploads) == []


def test_an_upload_is_read_back_from_object_storage_as_it_was_stored(s3_uploads):
    key = upload_save(file=io.BytesIO(b"external_id\nx-1\n"))

    with upload_open(key) as file:
        content = file.read()

    assert content == b"external_id\nx-1\n"
    assert upload_exists(key)
    assert uploads_storage().__class__.__name__ == "S3Storage"


def test_the_sweep_lists_and_deletes_abandoned_uploads_in_object_storage(s3_uploads):
    abandoned = upload_save(file=io.BytesIO(b"a\n"))
    queued = upload_save(file=io.BytesIO(b"b\n"))
    Job.objects.create(kind=IMPORT_JOB_KIND, payload={"key": queued}, status=JobStatus.QUEUED)

    outcome = uploads_sweep(max_age=timedelta(0))

    assert outcome == {"deleted": 1, "kept": 1}
    assert objects(s3_uploads) == [f"uploads/{queued}"]
    assert not upload_exists(abandoned)
