"""Browser uploads: a preview with the errors first, then the import as a job with progress."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import Job, JobStatus
from profiles import ingest
from profiles.models import Event, Profile

pytestmark = pytest.mark.django_db

EVENTS = (
    "external_id,name,occurred_at,amount,channel\n"
    "c-1,purchase,2024-05-01,10,web\n"
    "c-2,purchase,not-a-date,10,web\n"
    "c-3,page_view,2024-05-01,,app\n"
)


@pytest.fixture(autouse=True)
def uploads(uploads_root):
    return uploads_root


def upload(client, text: str, kind: str = "events"):
    file = SimpleUploadedFile("data.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post("/profiles/import/", {"kind": kind, "file": file})


def test_an_upload_shows_the_first_rows_and_errors_and_stores_nothing(ops_client):
    response = upload(ops_client, EVENTS)

    page = response.content.decode()
    assert response.status_code == 200
    assert "c-1" in page and "c-3" in page
    assert "line 3: occurred_at &#x27;not-a-date&#x27; is not an ISO 8601" in page
    assert not Event.objects.exists()
    assert response.context["preview"].total == 3


def test_confirming_runs_the_import_as_a_job_that_reports_progress(
    ops_client, django_capture_on_commit_callbacks
):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            "/profiles/import/confirm/", {"upload_id": upload_id, "kind": "events"}
        )

    job = Job.objects.get(kind=ingest.IMPORT_JOB_KIND)
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.DONE
    assert job.progress == job.total == 3
    assert job.result["created"] == 2
    assert job.result["errors"] == [
        {
            "line": 3,
            "code": "import.datetime",
            "message": ingest.ERROR_DATETIME,
            "params": {"column": "occurred_at", "value": "not-a-date"},
        }
    ]
    assert Event.objects.count() == 2
    page = ops_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "not-a-date" in page


def test_a_file_missing_required_columns_is_refused_at_preview(ops_client):
    response = upload(ops_client, "who,what\nc-1,x\n")

    assert (
        "lacks the required column(s): "
        "external_id/wechat_unionid/wechat_openid/wecom_external_userid, name, occurred_at"
    ) in response.content.decode()
    assert b"import-confirm" not in response.content


def test_a_profiles_upload_imports_profiles(ops_client, django_capture_on_commit_callbacks):
    upload_id = upload(ops_client, "\ufeffexternal_id,name\nc-9,李娜\n", "profiles").context[
        "upload_id"
    ]

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/profiles/import/confirm/", {"upload_id": upload_id, "kind": "profiles"})

    assert Profile.objects.get(external_id="c-9").name == "李娜"


def test_a_forged_upload_id_is_not_found(ops_client):
    response = ops_client.post(
        "/profiles/import/confirm/", {"upload_id": "../../etc/passwd", "kind": "events"}
    )

    assert response.status_code == 404


def test_only_ops_staff_import(client, campaign_manager):
    client.force_login(campaign_manager)

    assert client.get("/profiles/import/").status_code == 403


def test_the_upload_is_kept_in_the_uploads_storage_and_deleted_after_the_job(
    ops_client, uploads, django_capture_on_commit_callbacks
):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]
    kept = [path.name for path in uploads.rglob("*.csv")]

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/profiles/import/confirm/", {"upload_id": upload_id, "kind": "events"})

    assert kept == [f"{upload_id}.csv"]
    assert Job.objects.get().payload["key"] == f"imports/{upload_id}.csv"
    assert not list(uploads.rglob("*.csv"))


def test_a_failed_import_job_deletes_the_upload_too(
    ops_client, uploads, django_capture_on_commit_callbacks
):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]
    (stored,) = uploads.rglob("*.csv")
    stored.write_text("who,what\nc-1,x\n")

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/profiles/import/confirm/", {"upload_id": upload_id, "kind": "events"})

    job = Job.objects.get()
    assert job.status == JobStatus.FAILED
    assert "lacks the required column(s)" in job.error
    assert not stored.exists()


def test_a_file_refused_at_preview_is_not_kept(ops_client, uploads):
    upload(ops_client, "who,what\nc-1,x\n")

    assert not list(uploads.rglob("*.csv"))


def test_confirming_an_upload_that_is_gone_is_not_found(ops_client, uploads):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]
    for path in uploads.rglob("*.csv"):
        path.unlink()

    response = ops_client.post(
        "/profiles/import/confirm/", {"upload_id": upload_id, "kind": "events"}
    )

    assert response.status_code == 404
    assert not Job.objects.exists()


def test_cancelling_a_preview_deletes_its_upload_at_once(ops_client, uploads):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]

    response = ops_client.post("/profiles/import/cancel/", {"upload_id": upload_id})

    assert response.status_code == 302
    assert response["Location"] == "/profiles/import/"
    assert not list(uploads.rglob("*.csv"))


def test_cancelling_a_consent_preview_goes_back_to_the_consent_upload(
    client, consent_admin, uploads
):
    client.force_login(consent_admin)
    file = SimpleUploadedFile(
        "c.csv", b"external_id,channel,purpose,status\nc-1,email,marketing,granted\n"
    )
    upload_id = client.post("/profiles/consent/import/", {"file": file}).context["upload_id"]

    response = client.post(
        "/profiles/import/cancel/", {"upload_id": upload_id, "next": "/profiles/consent/import/"}
    )

    assert response["Location"] == "/profiles/consent/import/"
    assert not list(uploads.rglob("*.csv"))


def test_an_outsider_cannot_cancel_an_upload(client, outsider, ops_client, uploads):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]
    client.force_login(outsider)

    response = client.post("/profiles/import/cancel/", {"upload_id": upload_id})

    assert response.status_code == 403
    assert list(uploads.rglob("*.csv"))
