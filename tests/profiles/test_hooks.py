"""The events-ingested hook: every ingest path tells the receivers what it inserted, on commit."""

import datetime
import io
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from rest_framework.test import APIClient

from profiles import ingest
from profiles.hooks import (
    EVENTS_INGESTED,
    EventRecord,
    events_ingested_notify,
    events_ingested_register,
    events_ingested_unregister,
)
from profiles.models import Event, Profile

pytestmark = pytest.mark.django_db

MARCH_1 = datetime.datetime(2025, 3, 1, 10, tzinfo=datetime.UTC)
EVENTS_CSV = (
    "external_id,name,occurred_at,event_id,amount,properties\n"
    'c-1,purchase,2025-03-01T10:00:00Z,ord-1,10,"{""sku"": ""A1""}"\n'
    "c-2,page_view,2025-03-01T10:00:00Z,,,\n"
    "c-3,page_view,not-a-date,,,\n"
)
CSV_RECORDS = [
    EventRecord(profile_id=-1, name="purchase", occurred_at=MARCH_1, properties={"sku": "A1"}),
    EventRecord(profile_id=-1, name="page_view", occurred_at=MARCH_1, properties={}),
]


class Boom(Exception):
    pass


@pytest.fixture
def received():
    """Register a receiver for the test; return the list of the record lists it was given."""
    calls: list[list[EventRecord]] = []
    events_ingested_register(calls.append)
    yield calls
    events_ingested_unregister(calls.append)


def row(position: int, **fields) -> tuple[int, dict]:
    base = {"external_id": "c-1", "name": "page_view", "occurred_at": "2025-03-01T10:00:00Z"}
    return position, base | fields


def with_profile_ids(records: list[EventRecord], *external_ids: str) -> list[EventRecord]:
    ids = [Profile.objects.get(external_id=e).pk for e in external_ids]
    return [
        EventRecord(pk, r.name, r.occurred_at, r.properties)
        for pk, r in zip(ids, records, strict=True)
    ]


def by_name(records: list[EventRecord]) -> list[EventRecord]:
    return sorted(records, key=lambda r: (r.name, r.profile_id))


def test_an_ingest_calls_the_receiver_after_commit_with_the_inserted_events(
    received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest.events_ingest(
            rows=[row(1, name="purchase", properties={"sku": "A1"}), row(2, external_id="c-2")]
        )
        assert received == []

    assert len(received) == 1
    assert by_name(received[0]) == by_name(with_profile_ids(CSV_RECORDS, "c-1", "c-2"))


def test_events_already_stored_are_not_passed_again(received, django_capture_on_commit_callbacks):
    ingest.events_ingest(rows=[row(1, event_id="a")])

    with django_capture_on_commit_callbacks(execute=True):
        ingest.events_ingest(rows=[row(1, event_id="a"), row(2, event_id="b", name="signup")])

    (records,) = received
    assert [(r.name, r.properties) for r in records] == [("signup", {})]


def test_a_batch_of_events_all_stored_already_calls_no_receiver(
    received, django_capture_on_commit_callbacks
):
    ingest.events_ingest(rows=[row(1, event_id="a")])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest.events_ingest(rows=[row(1, event_id="a")])

    assert callbacks == []
    assert received == []


def test_nothing_is_passed_when_the_transaction_rolls_back(
    received, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        ingest.events_ingest(rows=[row(1)])
        raise Boom

    assert received == []
    assert not Event.objects.exists()


def test_a_raising_receiver_is_logged_and_neither_ingest_nor_the_next_receiver_breaks(
    received, django_capture_on_commit_callbacks, caplog
):
    def broken(records):
        raise Boom("receiver broke")

    events_ingested_unregister(received.append)
    events_ingested_register(broken)
    events_ingested_register(received.append)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="core.hooks"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            report = ingest.events_ingest(rows=[row(1)])
    finally:
        events_ingested_unregister(broken)

    assert report.created == 1
    assert Event.objects.count() == 1
    assert len(received) == 1
    assert "profiles.events_ingested" in caplog.text
    assert "receiver broke" in caplog.text


def test_without_a_receiver_no_callback_is_queued(django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(EVENTS_INGESTED, "_receivers", [])  # flows registers one in ready()

    with django_capture_on_commit_callbacks() as callbacks:
        ingest.events_ingest(rows=[row(1)])

    assert callbacks == []
    assert Event.objects.count() == 1


def test_a_large_import_calls_the_receiver_once_per_written_batch(
    received, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(ingest.service, "EVENT_BATCH_SIZE", 2)

    with django_capture_on_commit_callbacks(execute=True):
        ingest.events_ingest(rows=[row(i, event_id=str(i)) for i in range(5)])

    assert [len(records) for records in received] == [2, 2, 1]


def test_the_api_batch_calls_the_receiver(received, ops_user, django_capture_on_commit_callbacks):
    api = APIClient()
    api.force_login(ops_user)
    batch = [
        {"external_id": "c-1", "name": "purchase", "occurred_at": "2025-03-01T10:00:00Z",
         "event_id": "ord-1", "properties": {"sku": "A1"}},
        {"external_id": "c-2", "name": "page_view", "occurred_at": "2025-03-01T18:00:00+08:00"},
        {"external_id": "c-3", "name": "page_view", "occurred_at": "not-a-date"},
    ]  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/events/", batch, format="json")

    assert response.status_code == 201
    (records,) = received
    assert by_name(records) == by_name(with_profile_ids(CSV_RECORDS, "c-1", "c-2"))


def test_the_import_events_command_calls_the_receiver(
    received, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV, encoding="utf-8")

    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_events", str(path), "--no-progress", stdout=io.StringIO())

    (records,) = received
    assert by_name(records) == by_name(with_profile_ids(CSV_RECORDS, "c-1", "c-2"))


def test_the_import_job_calls_the_receiver(
    received, ops_client, uploads_root, django_capture_on_commit_callbacks
):
    file = SimpleUploadedFile("e.csv", EVENTS_CSV.encode(), content_type="text/csv")
    upload_id = ops_client.post("/profiles/import/", {"kind": "events", "file": file}).context[
        "upload_id"
    ]

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/profiles/import/confirm/", {"upload_id": upload_id, "kind": "events"})

    (records,) = received
    assert by_name(records) == by_name(with_profile_ids(CSV_RECORDS, "c-1", "c-2"))


def test_notify_takes_properties_as_json_text_and_skips_an_empty_list(
    received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        events_ingested_notify([])
        events_ingested_notify([(7, "signup", MARCH_1, '{"a": 1}')])

    assert len(callbacks) == 1
    assert received == [[EventRecord(7, "signup", MARCH_1, {"a": 1})]]


def test_a_record_cannot_be_changed():
    record = EventRecord(7, "signup", MARCH_1, {})

    with pytest.raises(AttributeError):
        record.name = "purchase"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="writer lanes run on PostgreSQL only")
def test_an_import_on_writer_lanes_passes_every_event_once_committed(received, monkeypatch):
    monkeypatch.setattr(ingest.service, "EVENT_BATCH_SIZE", 3)
    rows = [row(i, external_id=f"c-{i % 4}", event_id=str(i)) for i in range(10)]

    report = ingest.events_ingest(rows=rows, lanes=2)

    assert report.created == 10
    records = [record for batch in received for record in batch]
    assert len(records) == 10
    assert {r.profile_id for r in records} == set(Profile.objects.values_list("pk", flat=True))
