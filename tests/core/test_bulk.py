"""core.bulk and core.sql: the one bulk-write path (COPY on PostgreSQL, INSERT elsewhere)."""

import datetime
import decimal

import pytest
from django.db import connection

from core import sql
from core.bulk import BulkWriter, CsvRows, copy_bytes
from profiles.models import Event, Profile

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.UTC)


def test_the_copy_statement_names_its_columns_and_options():
    statement = sql.copy_from_stdin("stage", ["a", "b"], csv=True, header=True, force_null=["b"])

    q = connection.ops.quote_name
    assert statement == (
        f"COPY {q('stage')} ({q('a')}, {q('b')}) FROM STDIN "
        f"(FORMAT csv, HEADER, FORCE_NULL ({q('b')}))"
    )
    assert sql.copy_from_stdin("stage") == f"COPY {q('stage')} FROM STDIN"


def test_csv_rows_quote_every_value_so_empty_text_is_not_null():
    rows = CsvRows.of([("a", "", None, 1), ('x"y', "z", "2", 2)])

    assert len(rows) == 2
    assert rows.payload == b'"a","","","1"\n"x""y","z","2","2"\n'


def test_the_bulk_writer_fills_defaults_and_writes_every_row_on_this_database():
    with BulkWriter(Profile, ["external_id", "city", "traits"], batch_size=2) as writer:
        for n in range(5):
            writer.add((f"p-{n}", "上海", {"n": n}))

    assert writer.written == 5
    stored = {p.external_id: (p.city, p.traits, p.gender) for p in Profile.objects.all()}
    assert stored == {f"p-{n}": ("上海", {"n": n}, Profile().gender) for n in range(5)}


def test_the_bulk_writer_writes_dates_decimals_and_json_of_events():
    profile = Profile.objects.create(external_id="e")
    fields = ["profile_id", "name", "channel", "occurred_at", "amount", "properties", "key",
              "received_at"]  # fmt: skip

    with BulkWriter(Event, fields) as writer:
        writer.add((profile.pk, "buy", "web", AT, decimal.Decimal("1.50"), {"a": 1}, "k", AT))

    event = Event.objects.get()
    assert (event.occurred_at, event.amount, event.properties) == (
        AT,
        decimal.Decimal("1.50"),
        {"a": 1},
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_bytes_reads_csv_with_forced_nulls():
    with connection.cursor() as cursor:
        for statement in sql.stage_table("bulk_stage", "a text, b date"):
            cursor.execute(statement)
        payload = CsvRows.of([("x", None), ("", "2025-01-02")]).payload
        copy_bytes(cursor, "bulk_stage", ["a", "b"], [payload], csv=True, force_null=["b"])
        cursor.execute("SELECT a, b FROM bulk_stage ORDER BY a")
        rows = cursor.fetchall()

    assert rows == [("", datetime.date(2025, 1, 2)), ("x", None)]
