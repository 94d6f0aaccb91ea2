"""The journeys API: the stages with their counts and the funnel as JSON, with the same filters."""

import datetime
import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from core.tokens import api_token_create
from journeys.services import stages_refresh
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory, UserFactory
from tests.journeys.conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, ops_user):
    client.force_login(ops_user)
    return client


@pytest.fixture
def staged(journey):
    EventFactory(profile=ProfileFactory(external_id="v", channel="wechat"), occurred_at=NOW)
    PurchaseFactory(profile=ProfileFactory(external_id="b", channel="organic"), occurred_at=NOW)
    ProfileFactory(external_id="n", channel="wechat")
    stages_refresh(now=NOW + datetime.timedelta(seconds=1))


def test_the_stages_are_listed_in_order_with_their_counts(api, staged):
    response = api.get("/api/v1/journeys/stages/")

    assert response.status_code == 200
    rows = [(s["slug"], s["position"], s["current"], s["reached"]) for s in response.json()]
    assert rows == [("visit", 10, 1, 2), ("buy", 20, 1, 1), ("rebuy", 30, 0, 0)]
    assert response.json()[1]["rule"] == {
        "event": "purchase",
        "within_days": 3650,
        "count": {"gte": 1},
    }


def test_the_stage_list_filters_by_active(api, staged, journey):
    journey["rebuy"].active = False
    journey["rebuy"].save()

    response = api.get("/api/v1/journeys/stages/", {"active": "false"})

    assert [s["slug"] for s in response.json()] == ["rebuy"]


def test_the_stages_are_read_only(api, staged):
    response = api.post("/api/v1/journeys/stages/", {}, content_type="application/json")

    assert response.status_code == 405


def test_the_funnel_is_json_with_stages_cohorts_and_trend(api, staged):
    response = api.get("/api/v1/journeys/funnel/")

    data = response.json()
    assert response.status_code == 200
    assert data["profiles"] == 3
    assert [(s["slug"], s["reached"]) for s in data["stages"]] == [
        ("visit", 2),
        ("buy", 1),
        ("rebuy", 0),
    ]
    assert data["stages"][1]["conversion"] == 0.5
    assert data["filters"] == {
        "segment": "",
        "channel": "",
        "signup_from": None,
        "signup_to": None,
    }
    assert sum(row["signups"] for row in data["cohorts"]) == 3
    assert isinstance(data["trend"], list)


def test_the_funnel_takes_the_pages_filters(api, staged):
    response = api.get("/api/v1/journeys/funnel/", {"channel": "wechat"})

    data = response.json()
    assert data["profiles"] == 2
    assert [s["reached"] for s in data["stages"]] == [1, 0, 0]
    assert data["filters"]["channel"] == "wechat"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"segment": "no-such-segment"}, "segment"),
        ({"segment": "not a slug"}, "segment"),
        ({"signup_from": "2024-13-01"}, "signup_from"),
        ({"signup_from": "2024-05-02", "signup_to": "2024-05-01"}, "signup_to"),
        ({"channel": "x\x00y"}, "channel"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(api, staged, params, field):
    response = api.get("/api/v1/journeys/funnel/", params)

    assert response.status_code == 400
    assert field in response.json()


def test_only_people_with_a_role_read_the_journeys_api(client, staged):
    client.force_login(UserFactory(username="nobody-special"))

    assert client.get("/api/v1/journeys/funnel/").status_code == 403
    assert client.get("/api/v1/journeys/stages/").status_code == 403
    client.logout()
    assert client.get("/api/v1/journeys/funnel/").status_code in (401, 403)


def test_the_openapi_schema_describes_the_journeys_api_and_stays_valid():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    validate_schema(schema)
    assert "/api/v1/journeys/stages/" in schema["paths"]
    funnel = schema["paths"]["/api/v1/journeys/funnel/"]["get"]
    assert {p["name"] for p in funnel["parameters"]} == {
        "segment",
        "channel",
        "signup_from",
        "signup_to",
    }


# Fuzzing: no query string makes the journeys API fail with a server error ---------------------

FUZZ_SCHEMA = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True)
).include(path_regex=r"^/api/v1/journeys/")
FUZZ_SCHEMA.app = WSGIHandler()


@pytest.fixture
def fuzz_token(journey):
    user = UserFactory(username="fuzzing-journeys", is_superuser=True, is_staff=True)
    return api_token_create(user=user)[1]


@pytest.fixture
def keep_the_test_connection():
    """Keep the test's database connection across WSGI requests, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@FUZZ_SCHEMA.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_query_makes_the_journeys_api_fail(case, fuzz_token, keep_the_test_connection):
    case.call_and_validate(
        headers={"Authorization": f"Token {fuzz_token}"}, checks=[not_a_server_error]
    )
