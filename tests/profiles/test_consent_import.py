"""Consent CSV imports: preview, bad rows by line, good rows kept, and idempotent re-imports."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import Job, JobStatus
from profiles.ingest import ERROR_DATETIME, ERROR_MISSING_COLUMNS
from profiles.models import ConsentRecord, ConsentSource, ConsentState, ConsentStatus, Profile
from profiles.services.consent import ERROR_UNKNOWN_CHANNEL, ConsentEntry, consent_record
from profiles.services.consent_import import (
    CONSENT_IMPORT_JOB_KIND,
    ERROR_UNKNOWN_PROFILE,
    consent_import_file,
    consent_import_preview,
)
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

CSV = (
    "\ufeffexternal_id,channel,purpose,status,recorded_at,source,notice_version,evidence\n"
    "c-1,email,marketing,granted,2025-06-01T10:00:00+08:00,,隐私政策 v3,门店登记表 第12页\n"
    "c-1,fax,marketing,granted,2025-06-01,,v3,\n"
    "c-2,sms,marketing,granted,not-a-date,,v3,\n"
    "ghost,email,marketing,granted,2025-06-01,,v3,\n"
    "c-2,email,profiling,withdrawn,2025-07-01,web_form,v3,用户在小程序中撤回\n"
    "c-2,sms,marketing,granted,,,v3,\n"
)


@pytest.fixture
def profiles(db):
    return ProfileFactory(external_id="c-1"), ProfileFactory(external_id="c-2")


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str):
        path = tmp_path / "consents.csv"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def uploads(uploads_root):
    return uploads_root


def database():
    return sorted(
        ConsentRecord.objects.values_list(
            "profile__external_id", "channel", "purpose", "status", "recorded_at", "source",
            "notice_version", "evidence",
        )
    )  # fmt: skip


def test_good_rows_are_kept_and_bad_rows_reported_by_line(profiles, csv_file, consent_admin):
    report = consent_import_file(source=csv_file(CSV), recorded_by=consent_admin)

    assert report.read == 6
    assert report.created == 3
    assert [error.line for error in report.errors] == [3, 4, 5]
    assert str(
        ERROR_UNKNOWN_CHANNEL % {"value": "fax", "choices": "email, sms, wechat, wecom, push"}
    ) in str(report.errors[0])
    assert report.errors[1].message == ERROR_DATETIME.format(
        column="recorded_at", value="not-a-date"
    )
    assert report.errors[2].message == str(ERROR_UNKNOWN_PROFILE % {"value": "ghost"})
    first = ConsentRecord.objects.get(profile=profiles[0])
    assert first.recorded_at == datetime.datetime(2025, 6, 1, 2, 0, tzinfo=datetime.UTC)
    assert first.source == ConsentSource.IMPORT
    assert first.notice_version == "隐私政策 v3"
    assert first.evidence == "门店登记表 第12页"
    assert first.recorded_by == consent_admin
    assert ConsentState.objects.get(profile=profiles[1], purpose="profiling").status == (
        ConsentStatus.WITHDRAWN
    )


def test_an_unknown_external_id_creates_no_profile(profiles, csv_file):
    consent_import_file(source=csv_file(CSV))

    assert not ConsentRecord.objects.filter(profile__external_id="ghost").exists()
    assert not Profile.objects.filter(external_id="ghost").exists()


def test_importing_the_same_file_twice_gives_the_same_database(profiles, csv_file):
    path = csv_file(CSV)
    consent_import_file(source=path)
    before = database()

    again = consent_import_file(source=path)

    assert database() == before
    assert again.created == 0
    assert again.unchanged == 3
    assert len(again.errors) == 3


def test_an_undated_row_is_recorded_once_and_the_last_one_per_consent_wins(profiles, csv_file):
    text = (
        "external_id,channel,purpose,status\n"
        "c-1,email,marketing,granted\n"
        "c-1,email,marketing,withdrawn\n"
        "c-1,sms,marketing,granted\n"
    )
    path = csv_file(text)

    first = consent_import_file(source=path)
    second = consent_import_file(source=path)

    assert (first.created, first.unchanged) == (2, 1)
    assert (second.created, second.unchanged) == (0, 3)
    states = dict(ConsentState.objects.values_list("channel", "status"))
    assert states == {"email": ConsentStatus.WITHDRAWN, "sms": ConsentStatus.GRANTED}


def test_an_undated_row_counts_again_after_the_consent_changed(profiles, csv_file):
    path = csv_file("external_id,channel,purpose,status\nc-1,email,marketing,granted\n")
    consent_import_file(source=path)
    consent_record(
        entry=ConsentEntry(
            profile_id=profiles[0].pk,
            channel="email",
            purpose="marketing",
            status=ConsentStatus.WITHDRAWN,
            source=ConsentSource.UNSUBSCRIBE,
        )
    )

    report = consent_import_file(source=path)

    assert report.created == 1
    assert ConsentState.objects.get(profile=profiles[0]).status == ConsentStatus.GRANTED


def test_an_old_dated_row_does_not_override_a_newer_consent(profiles, csv_file):
    consent_record(
        entry=ConsentEntry(
            profile_id=profiles[0].pk,
            channel="email",
            purpose="marketing",
            status=ConsentStatus.WITHDRAWN,
            source=ConsentSource.UNSUBSCRIBE,
        )
    )
    path = csv_file(
        "external_id,channel,purpose,status,recorded_at\nc-1,email,marketing,granted,2024-01-01\n"
    )

    consent_import_file(source=path)

    assert ConsentRecord.objects.count() == 2
    assert ConsentState.objects.get(profile=profiles[0]).status == ConsentStatus.WITHDRAWN


def test_the_same_dated_row_twice_in_a_file_is_stored_once(profiles, csv_file):
    row = "c-1,email,marketing,granted,2025-01-01T00:00:00Z\n"
    path = csv_file("external_id,channel,purpose,status,recorded_at\n" + row + row)

    report = consent_import_file(source=path)

    assert (report.created, report.unchanged) == (1, 1)


def test_a_file_without_the_required_columns_is_refused(profiles, csv_file):
    report = consent_import_file(source=csv_file("external_id,channel\nc-1,email\n"))

    assert report.fatal == ERROR_MISSING_COLUMNS.format(columns="purpose, status")
    assert not ConsentRecord.objects.exists()


def test_the_preview_shows_first_rows_and_errors_and_stores_nothing(profiles, csv_file):
    preview = consent_import_preview(source=csv_file(CSV))

    assert preview.header[:4] == ["external_id", "channel", "purpose", "status"]
    assert preview.rows[0][0] == "c-1"
    assert preview.rows[0][6] == "隐私政策 v3"
    assert [error.line for error in preview.errors] == [3, 4, 5]
    assert preview.total == 6
    assert not ConsentRecord.objects.exists()


# --------------------------------------------------------------------------- through the pages


def upload(client, text: str):
    file = SimpleUploadedFile("consents.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post("/profiles/consent/import/", {"file": file})


def test_a_consent_admin_uploads_previews_then_imports_as_a_job(
    client, consent_admin, profiles, uploads, django_capture_on_commit_callbacks
):
    client.force_login(consent_admin)

    preview = upload(client, CSV)
    page = preview.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(
            "/profiles/consent/import/confirm/",
            {"upload_id": preview.context["upload_id"], "name": "consents.csv"},
        )

    job = Job.objects.get(kind=CONSENT_IMPORT_JOB_KIND)
    assert "门店登记表 第12页" in page
    assert "line 5: " + str(ERROR_UNKNOWN_PROFILE % {"value": "ghost"}) in page
    assert confirmed["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.DONE
    assert job.progress == job.total == 6
    assert (job.result["created"], job.result["refused"]) == (3, 3)
    assert [error["line"] for error in job.result["errors"]] == [3, 4, 5]
    assert job.created_by == consent_admin
    assert set(ConsentRecord.objects.values_list("recorded_by", flat=True)) == {consent_admin.pk}
    assert ConsentRecord.objects.count() == 3
    assert "line 4: " in client.get(f"/jobs/{job.pk}/").content.decode()
    assert not list(uploads.rglob("*.csv"))


def test_a_failed_consent_job_reports_why_and_deletes_the_upload(
    client, consent_admin, profiles, uploads, django_capture_on_commit_callbacks
):
    client.force_login(consent_admin)
    upload_id = upload(client, CSV).context["upload_id"]
    (stored,) = uploads.rglob("*.csv")
    stored.write_bytes(b"\xff\xfe not utf-8")

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/profiles/consent/import/confirm/", {"upload_id": upload_id})

    job = Job.objects.get(kind=CONSENT_IMPORT_JOB_KIND)
    assert job.status == JobStatus.FAILED
    assert "not UTF-8" in job.error
    assert not stored.exists()
    assert not ConsentRecord.objects.exists()


def test_a_file_that_cannot_be_imported_is_not_kept(client, consent_admin, uploads):
    client.force_login(consent_admin)

    response = upload(client, "external_id,channel\nc-1,email\n")

    assert response.context["preview"].fatal
    assert not list(uploads.rglob("*.csv"))


def test_progress_is_reported_chunk_by_chunk(profiles, csv_file, monkeypatch):
    monkeypatch.setattr("profiles.services.consent_import.CHUNK_SIZE", 2)
    rows = "".join(f"c-1,email,marketing,granted,2025-06-0{day}\n" for day in range(1, 7))
    done = []

    report = consent_import_file(
        source=csv_file("external_id,channel,purpose,status,recorded_at\n" + rows),
        progress=done.append,
    )

    assert done == [2, 4, 6]
    assert report.created == 6


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager", "outsider"])
def test_only_consent_admins_may_import(client, persona, request, profiles):
    client.force_login(request.getfixturevalue(persona))

    shown = client.get("/profiles/consent/import/")
    uploaded = upload(client, CSV)
    confirmed = client.post("/profiles/consent/import/confirm/", {"upload_id": "0" * 32})

    assert (shown.status_code, uploaded.status_code, confirmed.status_code) == (403, 403, 403)
    assert not ConsentRecord.objects.exists()


def test_a_forged_upload_id_is_not_found(client, consent_admin):
    client.force_login(consent_admin)

    response = client.post("/profiles/consent/import/confirm/", {"upload_id": "../../etc/passwd"})

    assert response.status_code == 404
