"""Tables are exported as CSV or Excel: filtered as on the page, masked for the role, safe from
formulas, never cached, recorded in the audit trail; large ones are written by a background job
whose file only the user who asked (or a superuser) can download."""

import datetime
import io

import openpyxl
import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from core.exports import exports_sweep
from core.models import Job, JobStatus, Notification
from profiles.audit import KIND_BULK_EXPORT
from profiles.exports import ERROR_GONE, EXPORT_JOB_KIND
from profiles.models import ConsentRecord
from profiles.services.consent import ConsentEntry, consent_record
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = "han.meimei@example.com"
PHONE = "+8613812345678"


def export_url(kind, fmt="csv", **params):
    return reverse("exports:table", args=[kind, fmt]), params


def csv_rows(response) -> list[str]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads a CSV with a byte order mark as UTF-8
    return body.lstrip("\ufeff").splitlines()


def xlsx_rows(content: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def bulk_exports():
    return LogEntry.objects.filter(
        action=LogEntry.Action.ACCESS, additional_data__kind=KIND_BULK_EXPORT
    )


def test_the_profile_list_exports_with_its_filters_and_masks_contact_data_for_ops(ops_client):
    ProfileFactory(external_id="sh-1", city="上海", email=EMAIL, phone=PHONE, name="韩梅梅")
    ProfileFactory(external_id="bj-1", city="北京")

    url, params = export_url("profiles", city="上海", after="999")
    response = ops_client.get(url, params)

    rows = csv_rows(response)
    assert rows[0].startswith(
        "external_id,name,email,phone,wechat_openid,wechat_unionid,wecom_external_userid,city,"
    )
    assert len(rows) == 2
    assert rows[1].startswith("sh-1,韩梅梅,h***@example.com,138****5678,,,,上海,")
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith('attachment; filename="profiles-')


def test_a_consent_admin_exports_contact_data_in_full(client, consent_admin):
    ProfileFactory(external_id="sh-1", name="韩梅梅", email=EMAIL, phone=PHONE)
    client.force_login(consent_admin)

    url, params = export_url("profiles")
    rows = csv_rows(client.get(url, params))

    assert rows[1].startswith(f"sh-1,韩梅梅,{EMAIL},'{PHONE},")  # "+…" is kept from formulas


def test_an_export_is_recorded_in_the_audit_trail(ops_client, ops_user):
    ProfileFactory.create_batch(3, city="上海")
    ProfileFactory(city="北京")

    url, params = export_url("profiles", "xlsx", city="上海")
    ops_client.get(url, params)

    [entry] = bulk_exports()
    assert entry.actor == ops_user
    assert entry.additional_data["rows"] == 3
    assert entry.additional_data["what"] == "profiles (city=上海) (XLSX)"


def test_the_excel_file_has_labels_typed_values_and_no_formulas(ops_client):
    ProfileFactory(external_id="=HYPERLINK(1)", name="@SUM(A1)", city="上海")

    url, params = export_url("profiles", "xlsx")
    response = ops_client.get(url, params)

    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "no-store" in response["Cache-Control"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["External ID", "Name", "Email"]
    assert (sheet["A2"].value, sheet["A2"].data_type) == ("'=HYPERLINK(1)", "s")
    assert (sheet["B2"].value, sheet["B2"].data_type) == ("'@SUM(A1)", "s")


def test_the_excel_headers_follow_the_language(ops_client):
    ProfileFactory()
    ops_client.cookies["django_language"] = "zh-hans"

    url, params = export_url("profiles", "xlsx")
    rows = xlsx_rows(ops_client.get(url, params, HTTP_ACCEPT_LANGUAGE="zh-hans").content)

    assert rows[0][0] == "外部 ID"


def test_a_bad_filter_is_refused_with_a_message_naming_it(ops_client):
    url, params = export_url("profiles", churn_min="lots")

    response = ops_client.get(url, params, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert "“lots” is not a number" in response.content.decode()
    assert not bulk_exports().exists()


@pytest.mark.parametrize(("kind", "fmt"), [("nothing", "csv"), ("profiles", "pdf")])
def test_an_unknown_export_or_format_is_refused(ops_client, kind, fmt):
    response = ops_client.get(reverse("exports:table", args=[kind, fmt]))

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("persona", "kind", "status"),
    [
        ("campaign_manager", "profiles", 403),
        ("outsider", "profiles", 403),
        ("ops_user", "consent-records", 403),
        ("consent_admin", "consent-records", 200),
        ("campaign_manager", "funnel", 200),
    ],
)
def test_each_export_is_open_only_to_its_roles(client, request, persona, kind, status):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(reverse("exports:table", args=[kind, "csv"])).status_code == status


def test_the_consent_ledger_of_one_profile_exports_with_labels(client, consent_admin):
    profile = ProfileFactory(external_id="crm-7")
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel="email", purpose="marketing", status="granted",
            source="admin", reason="asked by phone",
        ),
        recorded_by=consent_admin,
    )  # fmt: skip
    ProfileFactory(external_id="other")
    client.force_login(consent_admin)

    response = client.get(
        reverse("exports:table", args=["consent-records", "csv"]),
        {"external_id": "crm-7"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    rows = csv_rows(response)
    assert len(rows) == 2 == ConsentRecord.objects.count() + 1
    assert rows[1].startswith("crm-7,Email,")
    assert "asked by phone" in rows[1]
    [entry] = bulk_exports()
    assert entry.object_pk == str(profile.pk)


def test_a_large_export_runs_as_a_job_whose_file_only_its_user_downloads(
    client, ops_user, settings, uploads_root, django_capture_on_commit_callbacks
):
    settings.EXPORT_DIRECT_MAX_ROWS = 2
    ProfileFactory.create_batch(3, city="上海", email=EMAIL)
    client.force_login(ops_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("exports:table", args=["profiles", "xlsx"]))

    job = Job.objects.get(kind=EXPORT_JOB_KIND)
    assert response["Location"] == reverse("job-detail", args=[job.pk])
    assert (job.status, job.result["rows"], job.created_by) == (JobStatus.DONE, 3, ops_user)
    assert list(uploads_root.joinpath("exports").iterdir())  # the file is in the storage
    [entry] = bulk_exports()
    assert (entry.actor, entry.additional_data["rows"]) == (ops_user, 3)
    page = client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert reverse("exports:download", args=[job.pk]) in page

    download = client.get(reverse("exports:download", args=[job.pk]))

    assert "no-store" in download["Cache-Control"]
    rows = xlsx_rows(b"".join(download.streaming_content))
    assert len(rows) == 4
    assert all(row[2] == "h***@example.com" for row in rows[1:])  # masked for ops
    assert Notification.objects.filter(user=ops_user, topic="job", level="done").count() == 1


def test_another_user_cannot_download_an_export_but_a_superuser_can(
    client, ops_user, settings, uploads_root, django_capture_on_commit_callbacks
):
    settings.EXPORT_DIRECT_MAX_ROWS = 1
    ProfileFactory.create_batch(2)
    client.force_login(ops_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("exports:table", args=["profiles", "csv"]))
    job = Job.objects.get(kind=EXPORT_JOB_KIND)
    url = reverse("exports:download", args=[job.pk])

    client.force_login(UserFactory(username="other-ops", roles=["ops"]))
    refused = client.get(url)
    client.force_login(UserFactory(username="root", is_superuser=True))
    allowed = client.get(url)

    assert refused.status_code == 404
    assert allowed.status_code == 200
    assert bulk_exports().count() == 2  # the export, then the superuser's download of it


def test_a_swept_export_file_says_it_is_gone(
    client, ops_user, settings, uploads_root, django_capture_on_commit_callbacks
):
    settings.EXPORT_DIRECT_MAX_ROWS = 1
    ProfileFactory.create_batch(2)
    client.force_login(ops_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("exports:table", args=["profiles", "csv"]))
    job = Job.objects.get(kind=EXPORT_JOB_KIND)

    assert exports_sweep(max_age=datetime.timedelta(seconds=-1)) == {"deleted": 1, "kept": 0}
    response = client.get(
        reverse("exports:download", args=[job.pk]), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert str(ERROR_GONE) in response.content.decode()


def test_the_profile_page_offers_the_export_with_its_filters(ops_client):
    page = ops_client.get(reverse("profiles:list"), {"city": "上海", "after": "5"}).content.decode()

    assert "/exports/profiles.csv?city=%E4%B8%8A%E6%B5%B7" in page
    assert "/exports/profiles.xlsx?city=%E4%B8%8A%E6%B5%B7" in page
    assert "after=5" not in page.split('data-testid="export-profiles"')[1].split("</span>")[0]
