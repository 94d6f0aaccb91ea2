"""Fuzz the profiles, segments and campaigns APIs with schemathesis against their own schema."""

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from core.tokens import api_token_create
from profiles.models import Profile
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, UserFactory

# Examples per operation; raise it to search harder: FUZZ_EXAMPLES=500 pytest tests/profiles/…
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
OUR_PATHS = r"^/api/v1/(profiles|events|tags|segments|campaigns)/"

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema = schema.include(path_regex=OUR_PATHS)
schema.app = WSGIHandler()


@pytest.fixture
def token(db):
    """Return the API token of a superuser, with a few rows for the fuzzer to find."""
    user = UserFactory(username="fuzzing-admin", is_superuser=True, is_staff=True)
    profile = ProfileFactory(external_id="P000001")
    ProfileTagFactory(profile=profile)
    EventFactory(profile=profile)
    return api_token_create(user=user)[1]


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Keep the test's database connection across WSGI requests, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _storable(text: str) -> bool:
    """Return whether every database can hold ``text`` (no NUL, no unpaired surrogate)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_the_api_fail_with_a_server_error(case, token):
    external_id = (case.path_parameters or {}).get("external_id")
    if isinstance(external_id, str) and _storable(external_id) and len(external_id) <= 128:
        Profile.objects.get_or_create(external_id=external_id)  # updates reach a real profile

    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error])
