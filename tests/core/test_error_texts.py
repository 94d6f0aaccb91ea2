"""Error texts reach the reader in their language; job and send rows keep a code, not a sentence."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from campaigns.delivery.ledger import ERROR_WORKER_DIED
from campaigns.models import Send
from core.errors import error_code, error_text
from core.models import Job, JobStatus
from core.services import ERROR_GAVE_UP
from profiles.ingest import ERROR_DATETIME
from tests.campaigns.campaign_builders import campaign_make
from tests.campaigns.test_pages import _editor_post
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

EVENTS = "external_id,name,occurred_at\nc-1,purchase,2024-05-01\nc-2,purchase,not-a-date\n"

# The columns an events file must have (any one of the first four will do).
REQUIRED = "external_id/wechat_unionid/wechat_openid/wecom_external_userid, name, occurred_at"


@pytest.fixture(autouse=True)
def chinese(settings, uploads_root):
    """Use the product's default language (the other tests run in English)."""
    settings.LANGUAGE_CODE = "zh-hans"


def upload(client, text: str):
    file = SimpleUploadedFile("data.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post("/profiles/import/", {"kind": "events", "file": file})


def test_an_import_row_error_is_stored_as_a_code_and_shown_in_chinese(
    ops_client, django_capture_on_commit_callbacks
):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/profiles/import/confirm/", {"upload_id": upload_id, "kind": "events"})

    job = Job.objects.get()
    assert [error["code"] for error in job.result["errors"]] == ["import.datetime"]
    page = ops_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "第 3 行：occurred_at 的值 &#x27;not-a-date&#x27; 不是 ISO 8601 日期或日期时间" in page
    assert "is not an ISO 8601" not in page
    assert "读取 2 行：新建 1 条，更新 0 条，未变 0 条，拒绝 1 条。 新建用户 1 个。" in page


def test_the_import_preview_shows_row_and_file_errors_in_chinese(ops_client):
    rows = upload(ops_client, EVENTS).content.decode()
    refused = upload(ops_client, "who,what\nc-1,x\n").content.decode()

    assert "不是 ISO 8601 日期或日期时间" in rows
    assert f"表头缺少必需的列：{REQUIRED}" in refused
    assert "lacks the required" not in refused


def test_a_failed_import_job_names_the_reason_in_chinese(
    ops_client, uploads_root, django_capture_on_commit_callbacks
):
    upload_id = upload(ops_client, EVENTS).context["upload_id"]
    (stored,) = uploads_root.rglob("*.csv")
    stored.write_text("who,what\nc-1,x\n")

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/profiles/import/confirm/", {"upload_id": upload_id, "kind": "events"})

    job = Job.objects.get()
    assert job.status == JobStatus.FAILED
    assert error_code(job.error) == "import.nothing_imported"
    page = ops_client.get(f"/jobs/{job.pk}/").content.decode()
    assert f"未导入任何内容：表头缺少必需的列：{REQUIRED}" in page


def test_a_template_error_in_the_campaign_editor_is_in_chinese(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(
        reverse("campaigns:create"), _editor_post(**{"variants-0-body_text": "{{ nope }}"})
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "未知变量：nope" in page
    assert "Unknown variable" not in page


def test_a_workflow_error_in_the_schedule_dialog_is_in_chinese(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign = campaign_make()

    response = client.post(
        reverse("campaigns:schedule", args=[campaign.slug]),
        {"send_at": "2020-01-01T09:00", "time_zone": "UTC"},
    )

    assert response.status_code == 400
    assert "发送时间必须晚于当前时间。" in response.content.decode()


def test_a_link_that_is_not_valid_says_so_in_chinese(client):
    response = client.get("/campaigns/t/c/garbage/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 400
    assert "此链接无效。" in response.content.decode()
    assert "This link is not valid" not in response.content.decode()


def test_a_job_given_up_keeps_a_code_and_reads_in_either_language(client, ops_user):
    client.force_login(ops_user)
    job = Job.objects.create(
        kind="core.selftest",
        status=JobStatus.FAILED,
        error=ERROR_GAVE_UP.dumps(attempts=3),
        created_by=ops_user,
    )

    page = client.get(f"/jobs/{job.pk}/").content.decode()

    assert json.loads(job.error)["code"] == "job.gave_up"
    assert "任务在工作进程终止后已重启 3 次，不再重试。" in page
    with translation.override("en"):
        assert (
            error_text(job.error)
            == "The job was restarted 3 times after its worker died; giving up."
        )


def test_a_failed_send_shows_its_coded_error_in_chinese_and_an_old_english_one_as_it_was(
    client, campaign_manager
):
    client.force_login(campaign_manager)
    campaign = campaign_make()
    Send.objects.create(
        campaign=campaign,
        profile=ProfileFactory(),
        status=Send.Status.FAILED,
        error=ERROR_WORKER_DIED.dumps(attempts=5),
    )
    Send.objects.create(
        campaign=campaign,
        profile=ProfileFactory(),
        status=Send.Status.FAILED,
        error="550 mailbox unavailable",
    )

    page = client.get(reverse("campaigns:report", args=[campaign.slug])).content.decode()

    assert "发送此消息的工作进程已停止；已尝试 5 次。" in page
    assert "550 mailbox unavailable" in page


def test_an_import_error_record_names_its_template_and_parameters():
    record = ERROR_DATETIME.record(column="occurred_at", value="x")

    with translation.override("zh-hans"):
        assert error_text(record) == "occurred_at 的值 'x' 不是 ISO 8601 日期或日期时间"
    assert (
        error_text(record, translate=False)
        == "occurred_at 'x' is not an ISO 8601 date or date-time"
    )
