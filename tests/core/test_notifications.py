"""A finished or failed job, segment evaluation or campaign send is told to the user who started
it: a badge in the top bar, a menu and a list, in the reader's language, marked read."""

import pytest
from django.urls import reverse
from django.utils import translation

from campaigns.delivery.ledger import campaign_finish_if_done
from campaigns.models import Campaign, CampaignChange, Send
from core import services
from core.jobs import _HANDLERS, job_kind
from core.models import Job, JobStatus, Notification
from core.notifications import notification_send, notification_text
from segments.models import Segment
from tests.campaigns.campaign_builders import campaign_make
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def _failing_job(*, job, report):
    raise RuntimeError("disk full")


@pytest.fixture
def failing_kind():
    job_kind("tests.notified_failure", _failing_job)
    yield
    _HANDLERS.pop("tests.notified_failure", None)


def test_a_finished_job_notifies_the_user_who_started_it(ops_user):
    job = services.job_enqueue(kind="core.selftest", payload={"steps": 1}, user=ops_user)

    services.job_run(job_id=job.pk)

    [note] = Notification.objects.all()
    assert (note.user, note.topic, note.level) == (ops_user, "job", "done")
    assert note.url == reverse("job-detail", args=[job.pk])
    with translation.override("en"):
        assert notification_text(note) == f"Worker self-test finished (job #{job.pk})."
    with translation.override("zh-hans"):
        assert "Worker self-test" not in notification_text(note)


def test_a_failed_job_notifies_too_and_a_job_nobody_started_does_not(ops_user, failing_kind):
    mine = services.job_enqueue(kind="tests.notified_failure", payload={}, user=ops_user)
    beat = services.job_enqueue(kind="tests.notified_failure", payload={})

    services.job_run(job_id=mine.pk)
    services.job_run(job_id=beat.pk)

    assert Job.objects.get(pk=mine.pk).status == JobStatus.FAILED
    [note] = Notification.objects.all()
    assert (note.user, note.level, note.params["job_id"]) == (ops_user, "failed", mine.pk)


def test_an_evaluation_asked_for_in_the_page_notifies_its_user(
    ops_client, ops_user, django_capture_on_commit_callbacks
):
    Segment.objects.create(
        name="上海", slug="shanghai", rule={"attr": "city", "op": "eq", "value": "上海"}
    )
    ProfileFactory(city="上海")

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/segments/shanghai/evaluate/")

    [note] = Notification.objects.filter(topic="segment")
    assert (note.user, note.level, note.params["size"]) == (ops_user, "done", 1)
    with translation.override("en"):
        assert notification_text(note) == "Segment “上海” evaluated: 1 members (1 in, 0 out)."


def test_a_campaign_that_finishes_notifies_who_scheduled_it(campaign_manager):
    campaign = campaign_make(status=Campaign.Status.SENDING)
    CampaignChange.objects.create(campaign=campaign, user=campaign_manager, action="scheduled")
    Send.objects.create(campaign=campaign, profile=ProfileFactory(), status=Send.Status.SENT)
    Send.objects.create(campaign=campaign, profile=ProfileFactory(), status=Send.Status.FAILED)

    assert campaign_finish_if_done(campaign_id=campaign.pk)

    [note] = Notification.objects.filter(topic="campaign")
    assert note.user == campaign_manager
    assert (note.params["sent"], note.params["failed"]) == (1, 1)
    assert note.url == reverse("campaigns:report", args=[campaign.slug])


def test_the_top_bar_shows_the_unread_count_and_the_menu_lists_them(ops_client, ops_user):
    notification_send(user_id=ops_user.pk, topic="job", level="done",
                      params={"kind": "core.selftest", "job_id": 7}, url="/jobs/7/")  # fmt: skip
    notification_send(user_id=UserFactory().pk, topic="job", level="done", params={})

    page = ops_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    menu = ops_client.get(reverse("notifications-menu"), HTTP_ACCEPT_LANGUAGE="en")

    assert 'data-testid="notification-count">1<' in page
    assert "Worker self-test finished (job #7)." in menu.content.decode()
    assert menu.content.decode().count('data-testid="notification"') == 1


def test_opening_a_notification_marks_it_read_and_goes_to_its_page(ops_client, ops_user):
    note = notification_send(user_id=ops_user.pk, topic="job", level="done", params={},
                             url="/jobs/7/")  # fmt: skip

    response = ops_client.get(reverse("notification-open", args=[note.pk]))

    note.refresh_from_db()
    assert response["Location"] == "/jobs/7/"
    assert note.read_at is not None
    badge = ops_client.get(reverse("notifications-badge")).content.decode()
    assert "notification-count" not in badge


def test_a_notification_never_redirects_off_site(ops_client, ops_user):
    note = notification_send(user_id=ops_user.pk, topic="job", level="done", params={},
                             url="https://evil.example/")  # fmt: skip

    response = ops_client.get(reverse("notification-open", args=[note.pk]))

    assert response["Location"] == reverse("notifications")


def test_mark_all_as_read_reads_only_the_users_own(ops_client, ops_user):
    mine = notification_send(user_id=ops_user.pk, topic="job", level="done", params={})
    other = notification_send(user_id=UserFactory().pk, topic="job", level="done", params={})

    ops_client.post(reverse("notifications-read"))

    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.read_at is not None
    assert other.read_at is None


def test_a_user_cannot_open_another_users_notification(ops_client):
    other = notification_send(user_id=UserFactory().pk, topic="job", level="done", params={})

    assert ops_client.get(reverse("notification-open", args=[other.pk])).status_code == 404


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager", "consent_admin"])
def test_every_role_sees_its_notifications_page(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(reverse("notifications")).status_code == 200
    assert client.get(reverse("notifications-badge")).status_code == 200


def test_a_user_without_a_role_gets_no_notifications(client, outsider):
    client.force_login(outsider)

    assert client.get(reverse("notifications")).status_code == 403
    assert client.get(reverse("notifications-badge")).status_code == 403
