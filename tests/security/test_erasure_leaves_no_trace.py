"""Erasure leaves the person's email and phone nowhere: not in the send ledger, tracking rows,
suppressions, jobs, flows, data-subject requests, uploads waiting for an import or finished
exports. A dump of every table and every stored file is searched for them."""

import datetime
import io
from urllib.parse import quote, quote_plus

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.delivery.render import message_id_make
from campaigns.models import (
    Campaign,
    Channel,
    Send,
    Suppression,
    TrackingEvent,
    WebhookDelivery,
)
from campaigns.services.webhooks import webhook_endpoint_create
from campaigns.tracking import provider_event_record
from core.exports import FOLDER as EXPORTS
from core.exports import export_file_save, export_write
from core.models import Job, JobStatus
from core.services import job_enqueue
from core.uploads import FOLDER, upload_save, uploads_storage
from flows.models import Enrollment, StepRun
from profiles.exports import export_build, export_headers
from profiles.ingest.job import IMPORT_JOB_KIND
from profiles.models import ConsentRecord
from profiles.services.consent import ConsentEntry, consent_record
from profiles.services.privacy import profile_erase, profile_export
from profiles.services.tags import JOB_KIND_BULK
from tests.campaigns.campaign_builders import campaign_make
from tests.factories import EventFactory, ProfileFactory
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db

EMAIL = "Han.Meimei@Example.com"
PHONE = "+8613912345678"
NATIONAL = "13912345678"
OTHER_EMAIL = "li.lei@example.com"


def _needles() -> list[str]:
    return [
        EMAIL.lower(),
        quote(EMAIL).lower(),
        quote_plus(EMAIL).lower(),
        NATIONAL,  # inside +8613912345678, 8613912345678 and %2B8613912345678
        "139 1234 5678",
    ]


def _database_dump() -> str:
    """Return every row of every table as text, lower-cased."""
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            lines.extend(f"{table} {row!r}" for row in cursor.fetchall())
    return "\n".join(lines).lower()


def _storage_dump(root) -> str:
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace") for path in root.rglob("*") if path.is_file()
    ).lower()


def _sends(profile):
    """A failed email naming the address, a clicked one, a complaint and an SMS."""
    email = campaign_make(slug="spring", name="Spring")
    sms = campaign_make(slug="sms-sale", name="SMS sale", channel=Channel.SMS)
    Send.objects.create(
        campaign=email,
        profile=profile,
        status=Send.Status.FAILED,
        address=EMAIL,
        error=f"550 5.1.1 <{EMAIL}>: Recipient address rejected",
    )
    clicked = Send.objects.create(
        campaign=campaign_make(slug="summer", name="Summer"),
        profile=profile,
        status=Send.Status.SENT,
        address=EMAIL,
        sent_at=timezone.now(),
    )
    clicked.message_id = message_id_make(send=clicked, from_email="news@shop.example")
    clicked.save(update_fields=["message_id"])
    TrackingEvent.objects.create(
        send=clicked, kind="click", url=f"https://shop.example/hi?email={quote(EMAIL)}"
    )
    provider_event_record(
        event_type="complained",
        message_id=clicked.message_id,
        event_id="esp:1",
        recipient=EMAIL,
        description=f"Complaint from {EMAIL} (feedback loop)",
    )
    Send.objects.create(campaign=sms, profile=profile, status=Send.Status.SENT, address=PHONE)
    Suppression.objects.create(channel=Channel.SMS, address=PHONE, reason="manual")
    return Campaign.objects.count()


def _jobs():
    job_enqueue(
        kind=JOB_KIND_BULK,
        payload={"action": "add", "tag_id": 1, "filters": {"q": EMAIL}, "expires_at": None},
    )
    Job.objects.create(
        kind=IMPORT_JOB_KIND,
        status=JobStatus.DONE,
        payload={"key": "imports/" + "0" * 32 + ".csv", "kind": "profiles", "name": "crm.csv"},
        result={"errors": [{"line": 3, "message": f"Duplicate phone {PHONE} (row 2)"}]},
        message=f"3 rows read; {EMAIL} skipped",
    )


def _webhook_log():
    endpoint = webhook_endpoint_create(
        name="CRM", url="https://crm.example/in", consent_channel="email"
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        source=WebhookDelivery.Source.CAMPAIGN,
        delivery_id="campaign:1",
        status_code=422,
        error=f"HTTP 422 for {PHONE}",
        response_excerpt=f'{{"error": "unknown contact {EMAIL}"}}',
    )


def _flow(profile):
    flow = live_flow([{"key": "hook", "kind": "webhook", "url": "https://crm.example/hook"}])
    enrollment = Enrollment.objects.create(
        flow=flow,
        version=flow.version,
        profile=profile,
        step_key="hook",
        step_since=timezone.now(),
        entered_at=timezone.now(),
    )
    StepRun.objects.create(
        enrollment=enrollment,
        flow=flow,
        step_key="hook",
        status=StepRun.Status.FAILED,
        detail={"status": 422, "error": f"HTTP 422: unknown contact {EMAIL}", "ms": 12},
        at=timezone.now(),
    )


def _export(fmt: str, header, rows) -> str:
    file = io.BytesIO()
    export_write(fmt, header, rows, file, title="Profiles")
    return export_file_save(fmt, file)


def _exports(user) -> list[str]:
    """The profile list exported in full by a consent admin (CSV and Excel), as jobs store it."""
    keys = []
    for fmt in ("csv", "xlsx"):
        _kind, table = export_build(name="profiles", user=user, params={})
        keys.append(_export(fmt, export_headers(table, fmt), table.rows))
    return keys


@pytest.fixture
def person(consent_admin, uploads_root):
    """Han Meimei, reached by every path that stores an address, and one waiting upload."""
    profile = ProfileFactory(
        external_id="crm-42", email=EMAIL, phone=PHONE, name="韩梅梅", traits={"mobile": NATIONAL}
    )
    other = ProfileFactory(external_id="crm-43", email=OTHER_EMAIL)
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose="marketing",
            status="granted",
            source="web_form",
            evidence_ip="203.0.113.9",
            evidence="Newsletter box on the checkout page",
        )
    )
    EventFactory(profile=profile, key=f"id:signup-{EMAIL}", properties={"email": EMAIL})
    EventFactory(
        profile=profile,
        occurred_at=timezone.now() - datetime.timedelta(days=3),
        properties={"phone": PHONE},
    )
    _sends(profile)
    _jobs()
    _flow(profile)
    _webhook_log()
    profile_export(profile=profile, user=consent_admin, reason=f"Asked by {EMAIL} on 2025-06-01")
    upload_save(
        file=io.BytesIO(
            "external_id,email,phone,name\n"
            f"crm-42,{EMAIL},{PHONE},韩梅梅\n"
            f"crm-43,{OTHER_EMAIL},,李雷\n".encode()
        )
    )
    _exports(consent_admin)
    return profile, other


def test_the_fixture_leaves_the_address_everywhere_erasure_must_reach(person, uploads_root):
    dump = _database_dump()

    for table in (
        "campaigns_send",
        "campaigns_trackingevent",
        "campaigns_suppression",
        "core_job",
        "flows_steprun",
        "campaigns_webhookdelivery",
        "profiles_privacyrequest",
        "profiles_event",
    ):
        rows = [line for line in dump.splitlines() if line.startswith(table + " ")]
        assert any(needle in row for row in rows for needle in _needles()), table
    assert EMAIL.lower() in _storage_dump(uploads_root / FOLDER)
    assert EMAIL.lower() in _storage_dump(uploads_root / EXPORTS)


def test_after_erasure_no_table_and_no_upload_holds_the_email_or_phone(
    person, consent_admin, uploads_root
):
    profile, _other = person

    profile_erase(profile=profile, user=consent_admin, reason="Ticket 7")

    dump = _database_dump()
    stored = _storage_dump(uploads_root)
    assert [needle for needle in _needles() if needle in dump] == []
    assert [needle for needle in _needles() if needle in stored] == []
    assert OTHER_EMAIL in dump and OTHER_EMAIL in stored  # nobody else's data went


def test_erasure_keeps_the_ledgers_and_the_counts(person, consent_admin):
    profile, _other = person
    sends, records = Send.objects.count(), ConsentRecord.objects.count()

    profile_erase(profile=profile, user=consent_admin, reason="Ticket 7")

    assert Send.objects.count() == sends
    assert ConsentRecord.objects.count() == records
    assert TrackingEvent.objects.filter(send__profile=profile).count() == 2
    assert Enrollment.objects.filter(profile=profile).count() == 1
    assert set(Send.objects.filter(profile=profile).values_list("address", flat=True)) == {""}


def test_an_upload_waiting_for_its_import_loses_only_the_erased_persons_rows(
    person, consent_admin, uploads_root
):
    profile, _other = person

    profile_erase(profile=profile, user=consent_admin, reason="Ticket 7")

    _folders, names = uploads_storage().listdir(FOLDER)
    with uploads_storage().open(f"{FOLDER}/{names[0]}", "rb") as file:
        lines = file.read().decode().splitlines()
    assert lines == ["external_id,email,phone,name", f"crm-43,{OTHER_EMAIL},,李雷"]


def test_erasure_deletes_every_export_holding_the_person_and_keeps_the_others(
    person, consent_admin, uploads_root
):
    profile, _other = person
    by_id_only = _export("csv", ["external_id", "name"], [["crm-42", "韩梅梅"]])
    others = _export("xlsx", ["external_id", "email"], [["crm-43", OTHER_EMAIL]])

    profile_erase(profile=profile, user=consent_admin, reason="Ticket 7")

    left = sorted(path.name for path in (uploads_root / EXPORTS).iterdir())
    assert left == [others.rsplit("/", 1)[-1]]
    assert by_id_only.rsplit("/", 1)[-1] not in left
