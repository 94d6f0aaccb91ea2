"""Fuzz the whole API with schemathesis against its own schema: each operation alone, then chained.

The stateless pass sends generated requests to every operation; the stateful pass chains them
through the links schemathesis infers from the schema (a created campaign, segment, flow or
profile is then read, changed, scheduled, evaluated, paused …). Neither may get a server error.
The journeys and consents operations have their own fuzzing (tests/journeys/test_api.py,
tests/profiles/test_consent_api.py) and are left out of the stateless pass here.
"""

import os
import re

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from core.tokens import api_token_create
from flows.services import flow_create
from profiles.models import Profile
from segments.models import Segment
from tests.campaigns.campaign_builders import campaign_make
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, UserFactory
from tests.flows.helpers import definition, email_step

# Examples per operation; raise them to search harder: FUZZ_EXAMPLES=500 pytest tests/security/…
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "40"))
FUZZED_ELSEWHERE = r"^/api/v1/(journeys|consents)/"

RAW_SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
everything = schemathesis.openapi.from_dict(RAW_SCHEMA)
everything.app = WSGIHandler()
schema = schemathesis.openapi.from_dict(RAW_SCHEMA).exclude(path_regex=FUZZED_ELSEWHERE)
schema.app = WSGIHandler()
HYPOTHESIS = {
    "deadline": None,
    "derandomize": os.environ.get("FUZZ_RANDOM") != "1",
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.fixture
def token(db):
    """Return the API token of a superuser, with a few rows for the fuzzer to find."""
    user = UserFactory(username="fuzzing-admin", is_superuser=True, is_staff=True)
    profile = ProfileFactory(external_id="P000001", traits={"level": "gold"})
    ProfileTagFactory(profile=profile)
    EventFactory(profile=profile)
    Segment.objects.create(name="Buyers", slug="buyers", kind=Segment.Kind.STATIC)
    campaign_make(slug="spring")
    flow_create(name="Cart", slug="cart", definition=definition([email_step("mail")]))
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
@settings(max_examples=EXAMPLES, **HYPOTHESIS)
def test_no_request_makes_the_api_fail_with_a_server_error(case, token):
    external_id = (case.path_parameters or {}).get("external_id")
    if isinstance(external_id, str) and _storable(external_id) and len(external_id) <= 128:
        Profile.objects.get_or_create(external_id=external_id)  # updates reach a real profile

    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error])


def test_no_chain_of_requests_makes_the_api_fail_with_a_server_error(token):
    class Workflow(everything.as_state_machine()):
        def setup(self):  # every scenario starts from the same rows (hypothesis replays them)
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Token {token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=[not_a_server_error])

    Workflow.run(
        settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, **HYPOTHESIS)
    )


def test_every_api_path_is_fuzzed_here_or_beside_its_app():
    paths = set(RAW_SCHEMA["paths"])
    here = {path for path in paths if not re.match(FUZZED_ELSEWHERE, path)}
    links = [name for name in dir(everything.as_state_machine()) if "__" in name]

    assert here | {path for path in paths if re.match(FUZZED_ELSEWHERE, path)} == paths
    assert {"/api/v1/flows/", "/api/v1/predictions/", "/api/v1/campaigns/{slug}/"} <= here
    assert any("POST_api_v1_flows" in name for name in links)
    assert any("GET_api_v1_campaigns_slug" in name for name in links)
