"""CSV imports: bad rows reported by line and skipped, good rows kept, re-imports change nothing."""

import datetime
import decimal
import hashlib
import io
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from profiles import ingest
from profiles.ingest import service as ingest_service
from profiles.ingest import writers as ingest_writers
from profiles.models import Event, Profile

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")

PROFILES_CSV = (
    "\ufeffexternal_id,email,phone,name,gender,birth_date,city,region,signup_at,membership,score\n"
    "c-001,Li.Na@Example.com,13812345678,李娜,女,1990-05-01,上海,上海,2024-03-01,gold,88\n"
    "c-002,bob@example.com,+8613912345678,Bob Smith,male,1985-12-31,北京,北京,"
    "2024-03-02T09:30:00+08:00,silver,007\n"
    "c-003,not-an-email,,王伟,,,,,,,\n"
    "c-004,,12345,赵六,,,,,,,\n"
    "c-005,,,钱七,,1990-02-30,,,,,\n"
    ",nobody@example.com,,No Id,,,,,,,\n"
    'c-006,,,"=HYPERLINK(""http://evil.example""),x",,,深圳,广东,2024-13-01,,\n'
    'c-007,,,"=1+2",unknown,,"广州",广东,2024-04-01,,\n'
)

EVENTS_CSV = (
    "\ufeffexternal_id,name,occurred_at,event_id,amount,channel,properties,colour\n"
    'c-001,purchase,2024-05-01T10:00:00+08:00,ord-1,199.90,store,"{""sku"": ""口红""}",red\n'
    "c-001,page_view,2024-05-02,,,web,,\n"
    "c-001,page_view,2024-05-02,,,web,,\n"
    "new-guy,signup,2024-05-03T08:00:00,,,app,,\n"
    "c-002,purchase,2024-05-32,,10,web,,\n"
    "c-002,purchase,2024-05-03,,ten,web,,\n"
    'c-002,feedback,2024-05-03,,,app,"{not json",\n'
    'c-002,feedback,2024-05-03,,,app,"[1, 2]",\n'
    "c-002,feedback,2024-05-03,,,fax,,\n"
    ",purchase,2024-05-03,,,web,,\n"
)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(command: str, path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, str(path), "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def database_fingerprint() -> str:
    digest = hashlib.sha256()
    for row in Profile.objects.order_by("external_id").values_list(
        "external_id",
        "email",
        "phone",
        "name",
        "gender",
        "birth_date",
        "city",
        "region",
        "signup_at",
        "traits",
        "last_seen_at",
    ):
        digest.update(repr(row).encode())
    for row in Event.objects.order_by("key").values_list(
        "key", "profile__external_id", "name", "channel", "occurred_at", "amount", "properties"
    ):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def test_profiles_good_rows_are_kept_and_bad_rows_reported_by_line(tmp_path):
    path = write(tmp_path, "profiles.csv", PROFILES_CSV)

    out, err = run("import_profiles", path)

    assert set(Profile.objects.values_list("external_id", flat=True)) == {
        "c-001",
        "c-002",
        "c-007",
    }
    assert "line 4: email 'not-an-email' is not a valid email address" in err
    assert "line 5: phone '12345' is not a valid phone number" in err
    assert "line 6: birth_date '1990-02-30' is not a date (YYYY-MM-DD)" in err
    assert "line 7: external_id is required" in err
    assert "line 8: signup_at '2024-13-01' is not an ISO 8601 date or date-time" in err
    assert out.strip() == (
        "profiles: 8 rows read, 3 created, 0 updated, 0 unchanged, 5 refused"
        + out.strip().split("5 refused")[1]
    )


def test_profile_fields_are_normalised_and_other_columns_become_traits(tmp_path):
    run("import_profiles", write(tmp_path, "profiles.csv", PROFILES_CSV))

    li = Profile.objects.get(external_id="c-001")
    bob = Profile.objects.get(external_id="c-002")

    assert li.email == "li.na@example.com"
    assert str(li.phone) == "+8613812345678"
    assert li.name == "李娜"
    assert li.gender == "female"
    assert li.birth_date == datetime.date(1990, 5, 1)
    assert li.signup_at == datetime.datetime(2024, 3, 1, tzinfo=SHANGHAI)  # a date is midnight
    assert li.traits == {"membership": "gold", "score": 88}
    assert bob.traits == {"membership": "silver", "score": "007"}  # leading zeros stay text


def test_formula_like_text_is_stored_verbatim_as_data(tmp_path):
    run("import_profiles", write(tmp_path, "profiles.csv", PROFILES_CSV))

    assert Profile.objects.get(external_id="c-007").name == "=1+2"


def test_reimporting_the_same_profiles_file_changes_nothing(tmp_path):
    path = write(tmp_path, "profiles.csv", PROFILES_CSV)
    run("import_profiles", path)
    before = database_fingerprint()

    out, _err = run("import_profiles", path)

    assert database_fingerprint() == before
    assert "0 created, 0 updated, 3 unchanged, 5 refused" in out


def test_a_later_import_updates_only_the_cells_it_fills(tmp_path):
    run("import_profiles", write(tmp_path, "profiles.csv", PROFILES_CSV))
    update = "external_id,city,email,tier\nc-001,杭州,,vip\n"

    out, _err = run("import_profiles", write(tmp_path, "update.csv", update))

    li = Profile.objects.get(external_id="c-001")
    assert "1 updated" in out
    assert li.city == "杭州"
    assert li.email == "li.na@example.com"  # an empty cell keeps the stored value
    assert li.traits == {"membership": "gold", "score": 88, "tier": "vip"}


def test_events_good_rows_are_kept_and_bad_rows_reported_by_line(tmp_path):
    run("import_profiles", write(tmp_path, "profiles.csv", PROFILES_CSV))

    out, err = run("import_events", write(tmp_path, "events.csv", EVENTS_CSV))

    assert Event.objects.count() == 4
    assert "line 6: occurred_at '2024-05-32' is not an ISO 8601 date or date-time" in err
    assert "line 7: amount 'ten' is not a number" in err
    assert "line 8: properties is not valid JSON" in err
    assert "line 9: properties must be a JSON object, not list" in err
    assert "line 10: channel 'fax' is not one of" in err
    assert "line 11: external_id is required" in err
    assert "warning: column(s) not known for events were ignored: colour" in err
    assert (
        "events: 10 rows read, 4 created, 0 updated, 0 unchanged, 6 refused, 1 new profiles" in out
    )


def test_event_fields_are_stored_with_time_zone_and_unknown_profiles_created(tmp_path):
    run("import_events", write(tmp_path, "events.csv", EVENTS_CSV))

    purchase = Event.objects.get(key="id:ord-1")
    signup = Event.objects.get(name="signup")

    assert purchase.amount == decimal.Decimal("199.90")
    assert purchase.properties == {"sku": "口红"}
    assert purchase.channel == "store"
    assert purchase.occurred_at == datetime.datetime(2024, 5, 1, 2, 0, tzinfo=datetime.UTC)
    assert signup.profile.external_id == "new-guy"
    assert signup.occurred_at == datetime.datetime(2024, 5, 3, 8, 0, tzinfo=SHANGHAI)
    assert signup.profile.last_seen_at == signup.occurred_at


def test_two_identical_rows_are_two_events_and_reimporting_adds_nothing(tmp_path):
    path = write(tmp_path, "events.csv", EVENTS_CSV)
    run("import_events", path)
    before = database_fingerprint()

    out, _err = run("import_events", path)

    assert Event.objects.filter(name="page_view").count() == 2
    assert database_fingerprint() == before
    assert "0 created, 0 updated, 4 unchanged, 6 refused, 0 new profiles" in out


def test_a_third_identical_row_in_a_later_file_is_a_new_event(tmp_path):
    run("import_events", write(tmp_path, "events.csv", EVENTS_CSV))
    three = "external_id,name,occurred_at,channel\n" + "c-001,page_view,2024-05-02,web\n" * 3

    out, _err = run("import_events", write(tmp_path, "three.csv", three))

    assert "1 created" in out
    assert Event.objects.filter(name="page_view").count() == 3


def test_a_file_without_the_required_columns_is_refused_and_nothing_is_stored(tmp_path):
    path = write(tmp_path, "events.csv", "user,what,when\nc-1,purchase,2024-01-01\n")

    with pytest.raises(
        CommandError,
        match=r"lacks the required column\(s\): external_id/wechat_unionid/.*, name",
    ):
        run("import_events", path)

    assert not Event.objects.exists()


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("external_id,name\nc-1,李娜\n".encode("gbk"))

    with pytest.raises(CommandError, match="not UTF-8"):
        run("import_profiles", path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="no file at"):
        run("import_profiles", tmp_path / "nope.csv")


def test_a_file_where_every_row_is_bad_exits_non_zero(tmp_path):
    path = write(tmp_path, "events.csv", "external_id,name,occurred_at\nc-1,x,yesterday\n")

    with pytest.raises(CommandError, match="1 refused"):
        run("import_events", path)


def test_a_row_with_more_cells_than_the_header_is_refused(tmp_path):
    text = "external_id,name\nc-1,李娜\nc-2,王伟,extra\n"

    _out, err = run("import_profiles", write(tmp_path, "p.csv", text))

    assert "line 3: the row has 1 more cell(s) than the header" in err
    assert Profile.objects.count() == 1


def test_a_quoted_multiline_cell_keeps_later_line_numbers_right(tmp_path):
    text = 'external_id,name,note\nc-1,"李\n娜",ok\nc-2,,\n,bad,\n'

    _out, err = run("import_profiles", write(tmp_path, "p.csv", text))

    assert "line 5: external_id is required" in err
    assert Profile.objects.get(external_id="c-1").name == "李\n娜"


def test_the_ingest_service_accepts_rows_from_any_source():
    report = ingest.events_ingest(
        rows=enumerate(
            [
                {
                    "external_id": "api-1",
                    "name": "purchase",
                    "occurred_at": "2024-01-01T00:00:00Z",
                    "amount": 5,
                    "properties": {"a": 1},
                },
                "not a dict",
            ]
        )
    )

    assert report.created == 1
    assert [str(e) for e in report.errors] == [f"line 1: {ingest.ERROR_NOT_A_ROW}"]


def test_odd_but_valid_offsets_are_stored_in_utc_and_overflowing_dates_refused():
    report = ingest.events_ingest(
        rows=enumerate([
            {"external_id": "o-1", "name": "x", "occurred_at": "2024-01-01T00:30:00+23:30"},
            {"external_id": "o-1", "name": "x", "occurred_at": "0001-01-01T00:00:00+01:00"},
        ])
    )  # fmt: skip

    assert report.created == 1
    assert Event.objects.get().occurred_at == datetime.datetime(
        2023, 12, 31, 1, 0, tzinfo=datetime.UTC
    )
    assert [str(e) for e in report.errors] == [
        "line 1: occurred_at '0001-01-01T00:00:00+01:00' is not an ISO 8601 date or date-time"
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"amount": "999999999999.999"}, "amount '999999999999.999' is not a number"),
        ({"properties": '{"x": NaN}'}, "properties is not valid JSON"),
        ({"properties": {"x": float("inf")}}, ingest.ERROR_PROPERTIES_VALUE),
        ({"name": "a\x00b"}, "name contains a NUL character"),
        ({"name": "\ud800"}, "name is not valid Unicode text"),
    ],
)
def test_values_no_database_can_store_are_refused_row_by_row(item, message):
    row = {"external_id": "v-1", "name": "x", "occurred_at": "2024-01-01", **item}

    report = ingest.events_ingest(rows=enumerate([row]))

    assert report.created == 0
    assert message in str(report.errors[0])


def test_traits_must_be_flat_values_and_null_keeps_the_stored_one():
    ingest.profiles_ingest(rows=enumerate([{"external_id": "t-1", "traits": {"a": 1, "b": "x"}}]))

    report = ingest.profiles_ingest(
        rows=enumerate([
            {"external_id": "t-1", "traits": {"a": None, "b": "y"}},
            {"external_id": "t-2", "traits": {"nested": {"no": 1}}},
        ])
    )  # fmt: skip

    assert Profile.objects.get(external_id="t-1").traits == {"a": 1, "b": "y"}
    assert "trait 'nested' must be text" in str(report.errors[0])


def test_a_new_profile_without_gender_is_unknown():
    ingest.profiles_ingest(rows=enumerate([{"external_id": "g-1"}]))
    ingest.events_ingest(
        rows=enumerate([{"external_id": "g-2", "name": "x", "occurred_at": "2024-01-01"}])
    )

    assert set(Profile.objects.values_list("gender", flat=True)) == {"unknown"}


def test_a_second_ingest_in_the_same_transaction_applies_only_its_own_rows():
    ingest.profiles_ingest(rows=enumerate([{"external_id": "s-1", "city": "上海"}]))
    ingest.events_ingest(
        rows=enumerate([{"external_id": "s-1", "name": "a", "occurred_at": "2024-01-01"}])
    )

    profiles = ingest.profiles_ingest(
        rows=enumerate([{"external_id": "s-1", "city": "北京"}, {"external_id": "s-2"}])
    )
    events = ingest.events_ingest(
        rows=enumerate([{"external_id": "s-3", "name": "b", "occurred_at": "2024-01-02"}])
    )

    assert (profiles.created, profiles.updated) == (1, 1)
    assert Profile.objects.get(external_id="s-1").city == "北京"
    assert (events.created, events.profiles_created) == (1, 1)
    assert Event.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_batches_written_in_the_background_store_the_same_and_reimporting_changes_nothing(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(ingest_service, "BATCH_SIZE", 2)
    monkeypatch.setattr(ingest_service, "EVENT_BATCH_SIZE", 3)
    profiles = write(tmp_path, "profiles.csv", PROFILES_CSV)
    events = write(tmp_path, "events.csv", EVENTS_CSV)
    run("import_profiles", profiles)
    run("import_events", events)
    before = database_fingerprint()

    out_profiles, _err = run("import_profiles", profiles)
    out_events, _err = run("import_events", events)

    assert database_fingerprint() == before
    assert "0 created, 0 updated, 3 unchanged, 5 refused" in out_profiles
    assert "0 created, 0 updated, 4 unchanged, 6 refused, 0 new profiles" in out_events
    assert Profile.objects.get(external_id="new-guy").gender == "unknown"
    assert Profile.objects.get(external_id="c-001").last_seen_at == datetime.datetime(
        2024, 5, 2, tzinfo=SHANGHAI
    )


@pytest.mark.django_db(transaction=True)
def test_text_that_copy_formats_treat_specially_is_stored_verbatim_in_the_background(tmp_path):
    profiles = (
        "external_id,name,city,region,birth_date,signup_at,note\n"
        'q-1,"a ""quoted"" \\N name","two\nlines",\\.,,,"tab\there \\ back\\\\slash"\n'
        'q-2,",",\\N,"",2000-01-01,2024-01-01T00:00:00Z,=1+2\n'
    )
    events = (
        "external_id,name,occurred_at,amount,properties\n"
        'q-1,note,2024-06-01T00:00:00.5+05:30,,"{""t"": ""\\\\N\\n\\"" x""}"\n'
        "q-2,buy,2024-06-01,-0,\n"
    )

    run("import_profiles", write(tmp_path, "profiles.csv", profiles))
    run("import_events", write(tmp_path, "events.csv", events))

    first, second = Profile.objects.order_by("external_id")
    assert (first.name, first.city, first.region) == ('a "quoted" \\N name', "two\nlines", "\\.")
    assert (first.birth_date, first.signup_at) == (None, None)
    assert first.traits == {"note": "tab\there \\ back\\\\slash"}
    assert (second.name, second.city, second.region, second.traits) == (
        ",",
        "\\N",
        "",
        {"note": "=1+2"},
    )
    assert second.birth_date == datetime.date(2000, 1, 1)
    buy, note = Event.objects.order_by("name")
    assert (note.amount, note.properties) == (None, {"t": '\\N\n" x'})
    assert buy.amount == decimal.Decimal("0.00")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("writers", [0, 1, 2, 3])
def test_events_written_by_several_connections_store_each_key_once(
    tmp_path, monkeypatch, settings, writers
):
    """On PostgreSQL each writer is its own connection; elsewhere there is one, inline."""
    settings.INGEST_WRITERS = writers
    monkeypatch.setattr(ingest_service, "EVENT_BATCH_SIZE", 4)
    lines = ["external_id,name,occurred_at,event_id,amount"]
    # e-0 … e-9 come back every 10 rows, in later batches, with other content: the first stays.
    lines += [f"w-{n % 7},view,2024-01-{n % 28 + 1:02d},e-{n % 10},{n}" for n in range(40)]
    # Rows without event_id: w-0, w-1 and w-2 twice with the same content, so two events each.
    lines += [f"w-{n % 7},click,2024-02-01,," for n in range(10)]
    path = write(tmp_path, "events.csv", "\n".join(lines) + "\n")

    out, _err = run("import_events", path)
    again, _err = run("import_events", path)

    assert "20 created, 0 updated, 30 unchanged, 0 refused, 7 new profiles" in out
    assert "0 created, 0 updated, 50 unchanged, 0 refused, 0 new profiles" in again
    assert Profile.objects.count() == 7
    stored = {e.key: (e.profile.external_id, e.amount) for e in Event.objects.filter(name="view")}
    assert stored == {f"id:e-{n}": (f"w-{n % 7}", decimal.Decimal(n)) for n in range(10)}
    clicks = Event.objects.filter(name="click").values_list("profile__external_id", flat=True)
    assert sorted(clicks) == sorted(f"w-{n % 7}" for n in range(10))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("writers", [0, 1, 2, 3])
def test_profiles_written_by_several_connections_apply_each_profile_in_file_order(
    tmp_path, monkeypatch, settings, writers
):
    settings.INGEST_WRITERS = writers
    monkeypatch.setattr(ingest_service, "BATCH_SIZE", 3)
    lines = ["external_id,city,visits"]
    # Each of 5 profiles comes back every 5 rows with a new city and count: the last one stays.
    lines += [f"m-{n % 5},city-{n},{n}" for n in range(30)]
    path = write(tmp_path, "profiles.csv", "\n".join(lines) + "\n")

    out, _err = run("import_profiles", path)
    again, _err = run("import_profiles", path)

    assert "5 created, 25 updated, 0 unchanged" in out
    assert "0 created, 30 updated, 0 unchanged" in again  # its earlier rows apply first again
    stored = {p.external_id: (p.city, p.traits) for p in Profile.objects.all()}
    assert stored == {f"m-{n}": (f"city-{25 + n}", {"visits": 25 + n}) for n in range(5)}


@pytest.mark.django_db(transaction=True)
def test_writer_lanes_run_only_on_postgresql_outside_a_transaction_and_leave_no_thread():
    threads = threading.active_count()
    seen = []

    def write(part):
        seen.append((threading.get_ident(), len(part)))
        return len(part), 0

    writer = ingest_writers.BatchWriter(write, lanes=2)
    # On PostgreSQL the parts go to two lane threads, elsewhere one is written inline.
    lanes = connection.vendor == "postgresql"
    assert writer.lanes == (2 if lanes else 1)
    writer.submit(*[[("row",)]] * writer.lanes)

    assert writer.close() == (writer.lanes, 0)
    writers_used = {ident for ident, _size in seen}
    assert (threading.get_ident() in writers_used) is not lanes
    assert len(writers_used) == writer.lanes
    assert threading.active_count() == threads


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["profiles", "events"])
def test_a_file_breaking_off_midway_closes_the_writing_lanes(tmp_path, monkeypatch, kind):
    """Bytes that are not UTF-8 after some batches: the lanes are closed."""
    monkeypatch.setattr(ingest_service, "BATCH_SIZE", 50)
    monkeypatch.setattr(ingest_service, "EVENT_BATCH_SIZE", 50)
    header = "external_id,city" if kind == "profiles" else "external_id,name,occurred_at"
    good = [f"k-{n},杭州" if kind == "profiles" else f"k-{n},view,2024-01-01" for n in range(1800)]
    path = tmp_path / "broken.csv"
    # The reader decodes ahead in blocks: put the bad bytes far enough in.
    path.write_bytes(("\n".join([header, *good]) + "\n").encode() + b"k-x,\xff\xfe\n")
    threads = threading.active_count()
    importer = ingest.profiles_import_file if kind == "profiles" else ingest.events_import_file

    report = importer(path=path, lanes=2)

    assert report.fatal and "not UTF-8" in report.fatal
    assert threading.active_count() == threads  # no lane thread left behind
    assert Profile.objects.filter(external_id="k-0").exists()  # written before the break stays
