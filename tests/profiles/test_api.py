"""The profiles API: filters, upsert by external_id, event batches, tags, access and schema."""

import datetime
import sys
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core import roles
from core.api import ERROR_MOMENT_OUT_OF_RANGE
from core.tokens import api_token_create
from profiles import ingest
from profiles.api.serializers import (
    ERROR_AMOUNT_TYPE,
    ERROR_BATCH_TOO_LARGE,
    ERROR_EMPTY_BATCH,
    ERROR_EXTERNAL_ID_FIXED,
    ERROR_NOT_A_LIST,
    ERROR_NOT_TEXT,
    MAX_EVENTS_PER_BATCH,
)
from profiles.ingest import (
    CHANNELS,
    ERROR_AMOUNT,
    ERROR_CHANNEL,
    ERROR_DATE,
    ERROR_DATETIME,
    ERROR_EMAIL,
    ERROR_NOT_A_ROW,
    ERROR_PHONE,
    ERROR_PROPERTIES_OBJECT,
    ERROR_REQUIRED,
)
from profiles.ingest import writers as ingest_writers
from profiles.models import Event, Gender, Profile, Provenance, ValueTier
from tests.factories import (
    EventFactory,
    ProfileFactory,
    ProfileTagFactory,
    PurchaseFactory,
    TagCategoryFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PROFILES = "/api/v1/profiles/"
EVENTS = "/api/v1/events/"
TAGS = "/api/v1/tags/"
NOW = timezone.now()


def detail(external_id: str) -> str:
    return f"{PROFILES}{external_id}/"


def external_ids(response) -> list[str]:
    return [row["external_id"] for row in response.json()["results"]]


def event(**fields) -> dict:
    """Return one event item of a batch: a page view, with ``fields`` changed."""
    base = {"external_id": "E-1", "name": "page_view", "occurred_at": "2025-03-01T10:00:00Z"}
    return base | fields


@pytest.fixture
def api(ops_user):
    client = APIClient()
    client.force_login(ops_user)
    return client


@pytest.fixture
def crowd(db):
    """Profiles that differ in one attribute each from the first one, ``plain``."""
    coupon = TagFactory(slug="coupon-lover")
    ProfileFactory(external_id="plain", city="上海", region="华东", name="王小明")
    ProfileFactory(external_id="beijing", city="北京", region="华北")
    ProfileFactory(external_id="rich", value_tier=ValueTier.HIGH)
    ProfileFactory(external_id="woman", gender=Gender.FEMALE)
    ProfileTagFactory(profile=ProfileFactory(external_id="tagged"), tag=coupon)
    ProfileTagFactory(
        profile=ProfileFactory(external_id="was-tagged"),
        tag=coupon,
        expires_at=NOW - datetime.timedelta(days=1),
    )
    ProfileFactory(external_id="old", signup_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
    # Every write path stores emails in lower case; the search lower-cases what is typed.
    ProfileFactory(external_id="phoned", phone="+8613800138000", email="li.lei@example.com")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"city": "北京"}, ["beijing"]),
        ({"region": "华东"}, ["plain"]),
        ({"value_tier": "high"}, ["rich"]),
        ({"gender": "female"}, ["woman"]),
        ({"tag": "coupon-lover"}, ["tagged"]),
        ({"signup_before": "2021-01-01T00:00:00Z"}, ["old"]),
        ({"signup_after": "2019-12-31T00:00:00Z", "signup_before": "2020-01-02"}, ["old"]),
        ({"q": "王小"}, ["plain"]),  # a name prefix (surname first), served by an index
        ({"q": "li.lei@example.COM"}, ["phoned"]),
        ({"q": "13800138000"}, ["phoned"]),
        ({"q": "+8613800138000"}, ["phoned"]),
        ({"q": "rich"}, ["rich"]),
        ({"city": "北京", "region": "华东"}, []),
    ],
)
def test_each_profile_filter_returns_exactly_the_matching_profiles(api, crowd, query, expected):
    response = api.get(PROFILES, query)

    assert response.status_code == 200
    assert external_ids(response) == expected


def test_signup_after_leaves_out_the_profiles_who_signed_up_earlier(api, crowd):
    response = api.get(PROFILES, {"signup_after": "2021-01-01T00:00:00+08:00"})

    assert "old" not in external_ids(response)
    assert len(external_ids(response)) == 7


@pytest.mark.parametrize(
    "query",
    [{"value_tier": "gold"}, {"signup_after": "yesterday"}, {"gender": "robot"}],
)
def test_a_bad_filter_value_is_refused_naming_the_filter(api, query):
    response = api.get(PROFILES, query)

    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_the_profile_list_pages_by_cursor_newest_first_without_counting(api):
    first, second, third = ProfileFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        page = api.get(PROFILES, {"page_size": 2}).json()
    following = api.get(page["next"]).json()

    assert [row["external_id"] for row in page["results"]] == [
        third.external_id,
        second.external_id,
    ]
    assert [row["external_id"] for row in following["results"]] == [first.external_id]
    assert "count" not in page
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)


def test_a_date_time_filter_with_an_offset_beyond_postgresql_range_is_compared_in_utc(api):
    ProfileFactory(external_id="old", signup_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))

    response = api.get(PROFILES, {"signup_after": "2020-01-01T23:00:00+23:30"})

    assert response.status_code == 200
    assert external_ids(response) == ["old"]


def test_a_date_time_filter_pushed_past_year_one_by_its_offset_is_refused(api):
    response = api.get(PROFILES, {"signup_before": "0001-01-01T00:00:00+01:00"})

    assert response.status_code == 400
    assert response.json() == {"signup_before": [ERROR_MOMENT_OUT_OF_RANGE]}


def test_a_forged_cursor_is_a_404_not_a_server_error(api):
    forged = "cD1hYmM="  # base64 of "p=abc"

    response = api.get(PROFILES, {"cursor": forged})

    assert response.status_code == 404


# --------------------------------------------------------------------------- upsert


def test_posting_a_new_external_id_creates_the_profile(api):
    response = api.post(
        PROFILES,
        {
            "external_id": "U-1",
            "email": "Mei@Example.com",
            "phone": "13800138000",
            "gender": "女",
            "birth_date": "1990-05-04",
            "signup_at": "2024-01-02",
            "traits": {"membership": "gold"},
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "U-1"
    assert (body["email"], body["phone"]) == ("m***@example.com", "138****8000")  # ops: masked
    assert body["gender"] == "female"
    assert body["traits"] == {"membership": "gold"}
    stored = Profile.objects.get(external_id="U-1")
    assert (stored.email, str(stored.phone)) == ("mei@example.com", "+8613800138000")
    assert stored.birth_date == datetime.date(1990, 5, 4)


def test_a_signup_time_at_an_offset_beyond_postgresql_range_is_stored_at_the_same_instant(api):
    response = api.post(
        PROFILES, {"external_id": "U-1", "signup_at": "2024-01-02T23:00:00+23:30"}, format="json"
    )

    assert response.status_code == 201
    assert Profile.objects.get().signup_at == datetime.datetime(
        2024, 1, 1, 23, 30, tzinfo=datetime.UTC
    )


def test_posting_a_known_external_id_updates_it_and_keeps_what_is_not_sent(api):
    ProfileFactory(external_id="U-1", name="旧名字", city="上海", traits={"a": 1})

    response = api.post(
        PROFILES, {"external_id": "U-1", "name": "新名字", "traits": {"b": 2}}, format="json"
    )

    assert response.status_code == 200
    profile = Profile.objects.get(external_id="U-1")
    assert profile.name == "新名字"
    assert profile.city == "上海"
    assert profile.traits == {"a": 1, "b": 2}


def test_posting_the_same_profile_twice_leaves_it_unchanged(api):
    payload = {"external_id": "U-1", "name": "梅", "city": "杭州"}
    api.post(PROFILES, payload, format="json")
    before = Profile.objects.get(external_id="U-1").updated_at

    response = api.post(PROFILES, payload, format="json")

    assert response.status_code == 200
    assert Profile.objects.get(external_id="U-1").updated_at == before
    assert Profile.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", ERROR_EMAIL.format(value="not-an-email")),
        ("phone", "12345", ERROR_PHONE.format(value="12345")),
        ("birth_date", "1990-13-45", ERROR_DATE.format(column="birth_date", value="1990-13-45")),
        ("signup_at", "last week", ERROR_DATETIME.format(column="signup_at", value="last week")),
    ],
)
def test_a_bad_field_is_refused_with_a_message_naming_it(api, field, value, message):
    response = api.post(PROFILES, {"external_id": "U-1", field: value}, format="json")

    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert not Profile.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"name": "无名"}, "external_id"), ({"external_id": "U-1", "traits": [1, 2]}, "traits")],
)
def test_a_missing_external_id_or_traits_that_are_not_an_object_are_refused(api, payload, field):
    response = api.post(PROFILES, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_traits_holding_a_nul_character_are_refused(api):
    response = api.post(PROFILES, {"external_id": "U-1", "traits": {"a": "x\x00"}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"traits": [ingest.ERROR_TRAIT_VALUE.format(key="a")]}


def test_patch_updates_a_profile_through_the_import_rules(api):
    ProfileFactory(external_id="U-1", city="上海", traits={"a": 1})

    response = api.patch(detail("U-1"), {"city": "成都", "traits": {"b": 2}}, format="json")

    assert response.status_code == 200
    assert response.json()["city"] == "成都"
    assert response.json()["traits"] == {"a": 1, "b": 2}


def test_put_with_a_bad_phone_is_refused_naming_the_field(api):
    ProfileFactory(external_id="U-1")

    response = api.put(detail("U-1"), {"phone": "12345"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"phone": [ERROR_PHONE.format(value="12345")]}


def test_put_cannot_move_a_profile_to_another_external_id(api):
    ProfileFactory(external_id="U-1")

    response = api.put(detail("U-1"), {"external_id": "U-2", "name": "x"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"external_id": [ERROR_EXTERNAL_ID_FIXED]}
    assert not Profile.objects.filter(external_id="U-2").exists()


def test_updating_an_unknown_profile_is_a_404(api):
    response = api.patch(detail("nobody"), {"city": "成都"}, format="json")

    assert response.status_code == 404


def test_profiles_cannot_be_deleted_through_the_api(api):
    ProfileFactory(external_id="U-1")

    response = api.delete(detail("U-1"))

    assert response.status_code == 405
    assert Profile.objects.filter(external_id="U-1").exists()


# --------------------------------------------------------------------------- detail


def test_the_detail_shows_traits_computed_features_and_tags_under_their_names(api):
    profile = ProfileFactory(
        external_id="crm:42 ü@x",
        traits={"membership": "gold"},
        recency_days=3,
        frequency=2,
        monetary=Decimal("250.00"),
        r_score=5,
        f_score=3,
        m_score=4,
        value_tier=ValueTier.HIGH,
        last_seen_at=NOW,
        first_purchase_at=NOW - datetime.timedelta(days=30),
        last_purchase_at=NOW - datetime.timedelta(days=3),
    )
    expiry = NOW + datetime.timedelta(days=7)
    ProfileTagFactory(
        profile=profile,
        tag=TagFactory(slug="coupon-lover"),
        provenance=Provenance.RULE,
        expires_at=expiry,
    )

    body = api.get(detail("crm:42 ü@x")).json()

    assert body["traits"] == {"membership": "gold"}
    assert {
        name: body[name]
        for name in ("recency_days", "frequency", "monetary", "r_score", "f_score", "m_score")
    } == {
        "recency_days": 3,
        "frequency": 2,
        "monetary": "250.00",
        "r_score": 5,
        "f_score": 3,
        "m_score": 4,
    }
    assert body["value_tier"] == "high"
    for name in ("last_seen_at", "first_purchase_at", "last_purchase_at"):
        assert body[name] is not None
    [tag] = body["tags"]
    assert tag["slug"] == "coupon-lover"
    assert tag["category"] == "interest"
    assert tag["provenance"] == "rule"
    assert tag["set_at"] is not None
    assert datetime.datetime.fromisoformat(tag["expires_at"]) == expiry


def test_an_unknown_profile_is_a_404(api):
    response = api.get(detail("nobody"))

    assert response.status_code == 404


# --------------------------------------------------------------------------- events


def test_a_batch_keeps_its_good_events_and_reports_the_bad_ones_by_index(api):
    batch = [
        event(name="purchase", amount="99.50", channel="store", properties={"sku": "A1"}),
        event(occurred_at="2025-02-30"),
        event(properties=["not", "an", "object"]),
        event(channel="fax"),
        {"external_id": "E-1", "occurred_at": "2025-03-01"},
        event(name=42),
    ]

    response = api.post(EVENTS, batch, format="json")

    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("read", "created", "unchanged", "refused")} == {
        "read": 6,
        "created": 1,
        "unchanged": 0,
        "refused": 5,
    }
    assert body["errors"] == [
        {"index": 1, "message": ERROR_DATETIME.format(column="occurred_at", value="2025-02-30")},
        {"index": 2, "message": ERROR_PROPERTIES_OBJECT.format(kind="list")},
        {
            "index": 3,
            "message": ERROR_CHANNEL.format(value="fax", choices=", ".join(sorted(CHANNELS))),
        },
        {"index": 4, "message": ERROR_REQUIRED.format(column="name")},
        {"index": 5, "message": ERROR_NOT_TEXT.format(field="name")},
    ]
    stored = Event.objects.get()
    assert stored.name == "purchase"
    assert stored.amount == Decimal("99.50")
    assert stored.properties == {"sku": "A1"}


def test_posting_the_same_batch_again_stores_nothing_new(api):
    batch = [event(), event(), event(event_id="order-7", name="purchase", amount=10)]
    api.post(EVENTS, batch, format="json")

    response = api.post(EVENTS, batch, format="json")

    assert response.status_code == 200
    assert response.json()["created"] == 0
    assert response.json()["unchanged"] == 3
    assert Event.objects.count() == 3


def test_an_event_for_an_unknown_external_id_creates_the_profile(api):
    response = api.post(EVENTS, [event(external_id="newcomer")], format="json")

    assert response.json()["profiles_created"] == 1
    assert Profile.objects.get(external_id="newcomer").last_seen_at is not None


def test_an_event_holding_a_nul_character_is_refused_not_stored(api):
    response = api.post(EVENTS, [event(properties={"note": "a\x00b"})], format="json")

    assert response.json()["errors"] == [
        {"index": 0, "message": ingest.ERROR_NUL.format(column="properties")}
    ]
    assert not Event.objects.exists()


def test_an_event_at_an_offset_beyond_postgresql_range_is_stored_at_the_same_instant(api):
    response = api.post(EVENTS, [event(occurred_at="2025-03-01T23:00:00+23:30")], format="json")

    assert response.json()["created"] == 1
    assert Event.objects.get().occurred_at == datetime.datetime(
        2025, 2, 28, 23, 30, tzinfo=datetime.UTC
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            event(amount="999999999999.999"),
            ERROR_AMOUNT.format(value="999999999999.999"),
        ),
        (
            event(occurred_at="0001-01-01T00:00:00+01:00"),
            ERROR_DATETIME.format(column="occurred_at", value="0001-01-01T00:00:00+01:00"),
        ),
        (event(amount=True), ERROR_AMOUNT_TYPE),
        (event(properties="{}"), ERROR_PROPERTIES_OBJECT.format(kind="str")),
        ("not an object", ERROR_NOT_A_ROW),
    ],
)
def test_an_event_the_database_could_not_hold_is_refused_with_the_reason(api, item, message):
    response = api.post(EVENTS, [item], format="json")

    assert response.status_code == 200
    assert response.json()["errors"] == [{"index": 0, "message": message}]
    assert not Event.objects.exists()


def test_a_batch_over_the_limit_is_refused_naming_the_limit(api):
    batch = [event()] * (MAX_EVENTS_PER_BATCH + 1)

    response = api.post(EVENTS, batch, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": ERROR_BATCH_TOO_LARGE.format(limit=10_000, count=MAX_EVENTS_PER_BATCH + 1)
    }
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (event(), ERROR_NOT_A_LIST.format(kind="an object")),
        ("just text", ERROR_NOT_A_LIST.format(kind="str")),
        ([], ERROR_EMPTY_BATCH),
    ],
)
def test_a_batch_that_is_not_a_list_of_events_is_refused(api, body, message):
    response = api.post(EVENTS, body, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": message}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"external_id": "alice"}, ["alice-view", "alice-buy"]),
        ({"name": "purchase"}, ["alice-buy"]),
        ({"channel": "app"}, ["bob-view"]),
        ({"occurred_after": "2025-01-02T00:00:00Z"}, ["bob-view", "alice-buy"]),
        ({"occurred_before": "2025-01-02T00:00:00Z"}, ["alice-view"]),
    ],
)
def test_each_event_filter_returns_exactly_the_matching_events(api, query, expected):
    alice = ProfileFactory(external_id="alice")
    bob = ProfileFactory(external_id="bob")
    day = datetime.datetime(2025, 1, 1, 12, tzinfo=datetime.UTC)
    EventFactory(profile=alice, occurred_at=day, key="id:alice-view")
    PurchaseFactory(profile=alice, occurred_at=day + datetime.timedelta(days=2), key="id:alice-buy")
    EventFactory(
        profile=bob, channel="app", occurred_at=day + datetime.timedelta(days=1), key="id:bob-view"
    )

    response = api.get(EVENTS, query)

    assert response.status_code == 200
    assert sorted(row["event_id"] for row in response.json()["results"]) == sorted(expected)
    assert {row["external_id"] for row in response.json()["results"]} <= {"alice", "bob"}


# --------------------------------------------------------------------------- tags


def test_tags_are_listed_with_their_category_and_filtered_by_it(api):
    TagFactory(slug="咖啡控", category=TagCategoryFactory(slug="interest"))
    TagFactory(slug="high-spender", category=TagCategoryFactory(slug="value", label="价值"))

    everything = api.get(TAGS).json()["results"]
    values = api.get(TAGS, {"category": "value"}).json()["results"]
    one = api.get(f"{TAGS}咖啡控/").json()

    assert {tag["slug"] for tag in everything} == {"咖啡控", "high-spender"}
    assert [tag["slug"] for tag in values] == ["high-spender"]
    assert one["category"] == {"slug": "interest", "label": "兴趣 Interests"}


def test_tags_are_read_only_for_now(api):
    response = api.post(TAGS, {"slug": "new"}, format="json")

    assert response.status_code == 405


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("path", [PROFILES, detail("U-1"), EVENTS, TAGS])
def test_an_anonymous_request_is_refused(path):
    ProfileFactory(external_id="U-1")

    response = APIClient().get(path)

    assert response.status_code in (401, 403)


def test_an_outsider_without_a_role_can_neither_read_nor_write(outsider):
    client = APIClient()
    client.force_login(outsider)

    read = client.get(PROFILES)
    write = client.post(PROFILES, {"external_id": "U-1"}, format="json")
    batch = client.post(EVENTS, [event()], format="json")

    assert (read.status_code, write.status_code, batch.status_code) == (403, 403, 403)
    assert not Profile.objects.exists()


def test_a_campaign_manager_reads_profiles_but_cannot_write_them(campaign_manager):
    ProfileFactory(external_id="U-1")
    client = APIClient()
    client.force_login(campaign_manager)

    read = client.get(detail("U-1"))
    write = client.patch(detail("U-1"), {"city": "成都"}, format="json")

    assert read.status_code == 200
    assert write.status_code == 403


def test_a_token_authenticates_an_ops_user_for_writes():
    user = UserFactory(username="token-ops", roles=[roles.OPS])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")

    response = client.post(PROFILES, {"external_id": "U-1"}, format="json")

    assert response.status_code == 201


def test_a_wrong_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(PROFILES)

    assert response.status_code in (401, 403)


# --------------------------------------------------------------------------- schema


def test_the_schema_describes_every_profiles_endpoint(api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    assert set(paths["/api/v1/profiles/"]) == {"get", "post"}
    assert set(paths["/api/v1/profiles/{external_id}/"]) == {"get", "put", "patch"}
    assert set(paths["/api/v1/events/"]) == {"get", "post"}
    assert set(paths["/api/v1/tags/{slug}/"]) == {"get"}
    batch = paths["/api/v1/events/"]["post"]["requestBody"]["content"]["application/json"]
    assert (batch["schema"]["type"], batch["schema"]["maxItems"]) == ("array", 10_000)
    features = schema["components"]["schemas"]["ProfileDetail"]["properties"]
    assert {"recency_days", "frequency", "monetary", "r_score", "value_tier"} <= set(features)


def test_the_docs_page_loads_swagger_from_our_own_static_files(api):
    response = api.get("/api/v1/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in page
    assert "cdn.jsdelivr.net" not in page


@pytest.mark.django_db(transaction=True)
def test_the_upsert_and_the_event_batch_start_no_thread_nor_touch_the_switch_interval(
    ops_user, monkeypatch
):
    """Outside any transaction too, a web request writes in its own thread and connection."""
    client = APIClient()
    client.force_login(ops_user)

    def refuse(*args, **kwargs):
        raise AssertionError("a web request must not start writer lanes or change the interpreter")

    monkeypatch.setattr(ingest_writers, "ThreadPoolExecutor", refuse)
    monkeypatch.setattr(sys, "setswitchinterval", refuse)
    threads = threading.active_count()

    profile = client.post(PROFILES, {"external_id": "req-1", "city": "杭州"}, format="json")
    events = client.post(EVENTS, [event(external_id="req-1"), event(name="x")], format="json")

    assert profile.status_code == 201, profile.content
    assert events.status_code in (200, 201), events.content
    assert Event.objects.filter(profile__external_id__in=["req-1", "E-1"]).count() == 2
    assert threading.active_count() == threads
