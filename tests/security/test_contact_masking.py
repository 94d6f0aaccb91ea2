"""Email addresses and phone numbers are masked for the roles that do not need them (ops sees
138****5678), shown in full to consent admins with every reveal audited; the 360° page and
exports are never cached; old events and tracking rows go after the retention period."""

import datetime

import pytest
from auditlog.models import LogEntry
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Send, TrackingEvent
from core.masking import email_masked, phone_masked
from profiles.audit import KIND_LIST
from profiles.models import Event
from profiles.services.retention import months_before
from profiles.tasks import personal_data_retention_task
from tests.campaigns.campaign_builders import campaign_make
from tests.campaigns.delivery_builders import segment_with
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

EMAIL = "han.meimei@example.com"
PHONE = "+8613812345678"


@pytest.fixture
def meimei():
    return ProfileFactory(external_id="crm-7", name="韩梅梅", email=EMAIL, phone=PHONE)


def test_masks_keep_the_start_and_end_only():
    assert phone_masked(PHONE) == "138****5678"
    assert phone_masked("") == ""
    assert email_masked(EMAIL) == "h***@example.com"
    assert email_masked("") == ""


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager"])
def test_other_roles_see_masked_contact_data_in_the_list_and_the_360_page(
    client, request, meimei, persona
):
    client.force_login(request.getfixturevalue(persona))

    pages = [
        client.get(reverse("profiles:list")).content.decode(),
        client.get(reverse("profiles:detail", args=["crm-7"])).content.decode(),
    ]

    for html in pages:
        assert EMAIL not in html and "13812345678" not in html
        assert "138****5678" in html and "h***@example.com" in html


def test_consent_admins_see_contact_data_and_each_reveal_is_audited(client, consent_admin, meimei):
    client.force_login(consent_admin)

    html = client.get(reverse("profiles:list")).content.decode()

    assert EMAIL in html
    listed = LogEntry.objects.filter(
        actor=consent_admin, additional_data__kind=KIND_LIST, additional_data__profile_id=meimei.pk
    )
    assert listed.count() == 1


def test_the_api_masks_contact_data_for_other_roles(client, ops_user, meimei):
    client.force_login(ops_user)

    listed = client.get(reverse("api:profiles:profile-list")).json()["results"][0]
    shown = client.get(reverse("api:profiles:profile-detail", args=["crm-7"])).json()

    for data in (listed, shown):
        assert (data["email"], data["phone"]) == ("h***@example.com", "138****5678")


def test_the_api_shows_contact_data_to_consent_admins(client, consent_admin, meimei):
    client.force_login(consent_admin)

    shown = client.get(reverse("api:profiles:profile-detail", args=["crm-7"])).json()

    assert (shown["email"], shown["phone"]) == (EMAIL, PHONE)


def test_the_member_csv_masks_emails_for_ops(client, ops_user, meimei):
    segment_with([meimei], slug="buyers")
    client.force_login(ops_user)

    response = client.get(reverse("segments:members-csv", args=["buyers"]))
    body = b"".join(response.streaming_content).decode()

    assert EMAIL not in body
    assert "crm-7,h***@example.com," in body


def test_the_campaign_report_masks_failed_addresses_for_campaign_managers(
    client, campaign_manager, meimei
):
    campaign = campaign_make()
    Send.objects.create(
        campaign=campaign,
        profile=meimei,
        status=Send.Status.FAILED,
        address=EMAIL,
        error=f"550 <{EMAIL}>: no such user",
    )
    client.force_login(campaign_manager)

    html = client.get(reverse("campaigns:report", args=[campaign.slug])).content.decode()

    assert EMAIL not in html
    assert "h***@example.com" in html


def test_the_360_page_is_never_stored_by_a_cache(client, ops_user, meimei):
    client.force_login(ops_user)

    response = client.get(reverse("profiles:detail", args=["crm-7"]))

    assert "no-store" in response["Cache-Control"]


def test_api_reads_of_profiles_are_never_stored_by_a_cache(client, ops_user, meimei):
    client.force_login(ops_user)

    for url in (
        reverse("api:profiles:profile-list"),
        reverse("api:profiles:profile-detail", args=["crm-7"]),
        reverse("api:profiles:consent-list"),
    ):
        assert "no-store" in client.get(url)["Cache-Control"], url


def test_the_retention_job_deletes_events_and_tracking_rows_older_than_the_setting(
    settings, meimei
):
    settings.PERSONAL_DATA_RETENTION_MONTHS = 12
    now = timezone.now()
    old, recent = now - datetime.timedelta(days=400), now - datetime.timedelta(days=300)
    EventFactory(profile=meimei, occurred_at=old, name="old")
    EventFactory(profile=meimei, occurred_at=recent, name="recent")
    send = Send.objects.create(campaign=campaign_make(), profile=meimei, status="sent")
    TrackingEvent.objects.create(send=send, kind="open", at=old)
    TrackingEvent.objects.create(send=send, kind="click", at=recent)

    deleted = personal_data_retention_task()

    assert list(Event.objects.values_list("name", flat=True)) == ["recent"]
    assert list(TrackingEvent.objects.values_list("kind", flat=True)) == ["click"]
    assert deleted == {"events": 1, "tracking_events": 1, "webhook_deliveries": 0}


def test_without_a_retention_period_nothing_is_deleted(settings, meimei):
    settings.PERSONAL_DATA_RETENTION_MONTHS = 0
    EventFactory(profile=meimei, occurred_at=timezone.now() - datetime.timedelta(days=4000))

    personal_data_retention_task()

    assert Event.objects.count() == 1


def test_the_retention_job_runs_every_night():
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}

    assert "profiles.tasks.personal_data_retention_task" in tasks


def test_the_retention_period_counts_calendar_months():
    moment = datetime.datetime(2024, 3, 31, 12, 0, tzinfo=datetime.UTC)

    assert months_before(moment, 1) == datetime.datetime(2024, 2, 29, 12, 0, tzinfo=datetime.UTC)
    assert months_before(moment, 13) == datetime.datetime(2023, 2, 28, 12, 0, tzinfo=datetime.UTC)
    assert months_before(moment, 24).year == 2022


def test_the_admin_list_masks_contact_data_for_staff_who_are_not_consent_admins(
    client, ops_user, meimei
):
    ops_user.is_staff = True
    ops_user.save()
    ops_user.user_permissions.set(Permission.objects.filter(codename="view_profile"))
    client.force_login(ops_user)

    html = client.get("/admin/profiles/profile/").content.decode()

    assert "crm-7" in html
    assert EMAIL not in html and "138****5678" in html
