"""Fuzz every page's URL pattern with hostile values: no path, query or form makes a server error.

Each pattern of the UI (the API has schemathesis, tests/security/test_api_fuzz.py) is requested
with its parameters filled by a real object's key and by hostile ones (a NUL byte, 10 KB, digits
past any integer column, odd Unicode), with hostile query strings, and posted hostile forms and
a JSON body nested thousands deep. Every answer must be below 500. The admin's patterns get the
hostile paths and query strings (its forms are Django's own; an add page is not given a query:
Django fills its form from the query without checking the values).
"""

import re
from urllib.parse import quote, urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from flows.services import flow_create
from journeys.models import JourneyStage
from segments.models import Segment
from tests.campaigns.campaign_builders import campaign_make
from tests.factories import ProfileFactory, TagFactory, UserFactory
from tests.flows.helpers import definition, email_step

LONG = "x" * 10_000
DEEP_JSON = "[" * 3_000 + "]" * 3_000
HOSTILE_VALUES = ["\x00", LONG, "9" * 30, "-1", "ä\u202e\ufeff😀", "../../etc/passwd", "{{ 7*7 }}"]
QUERY_NAMES = [
    "q", "page", "status", "channel", "city", "segment", "tag", "kind", "sort", "order",
    "from", "to", "since", "until", "days", "variant", "external_id", "slug", "cursor", "next",
    "limit", "stage", "signup_from", "signup_to", "rule", "lang",
]  # fmt: skip
FORM_NAMES = [
    "name", "slug", "description", "rule", "definition", "where", "kind", "channel", "purpose",
    "status", "evidence", "to", "variant", "send_at", "time_zone", "external_id", "text", "from",
    "body_text", "subject", "key", "weight", "category", "tags", "count", "next", "language",
    "variants-TOTAL_FORMS", "variants-INITIAL_FORMS", "variants-0-body_text", "preview_variant",
]  # fmt: skip
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")

pytestmark = pytest.mark.django_db


def _patterns(resolvers=None, prefix=""):
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


UI_PATTERNS = sorted(
    {pattern for pattern in _patterns() if not pattern.startswith(("api/", "^", "admin/"))}
)
ADMIN_PATTERNS = sorted({pattern for pattern in _patterns() if pattern.startswith("admin/")})


@pytest.fixture
def seeded(db):
    """Return a real key for each kind of URL parameter (objects the pages can find)."""
    profile = ProfileFactory(external_id="P000001", traits={"level": "gold"})
    segment = Segment.objects.create(
        name="Buyers", slug="buyers", kind=Segment.Kind.DYNAMIC, rule={"tag": "vip"}
    )
    campaign = campaign_make()
    tag = TagFactory()
    flow = flow_create(name="Cart", slug="cart", definition=definition([email_step("mail")]))
    stage = JourneyStage.objects.create(slug="visit", name="Visit", position=10, rule={})
    return {
        "external_id": profile.external_id,
        "slug": segment.slug,
        "campaign": campaign.slug,
        "tag": tag.slug,
        "category": tag.category.slug,
        "flow": flow.slug,
        "key": "mail",
        "stage": stage.slug,
        "pk": "1",
        "token": "x",
    }


def _real_value(pattern: str, name: str, seeded: dict) -> str:
    if name == "slug":
        for section in ("campaigns", "flows", "journeys", "predictions"):
            if pattern.startswith(f"{section}/"):
                return seeded.get({"campaigns": "campaign", "flows": "flow"}.get(section, ""), "x")
        if "tags/categories" in pattern:
            return seeded["category"]
        if "tags/" in pattern:
            return seeded["tag"]
    if name == "slug" and pattern.startswith("journeys/"):
        return seeded["stage"]
    return seeded.get(name, "1")


def _fill(pattern: str, value_for) -> str:
    path = _CONVERTER.sub(lambda m: quote(value_for(m.group(2)), safe=""), pattern)
    return "/" + path.lstrip("^").rstrip("$")


def _paths(pattern: str, seeded: dict) -> list[str]:
    """Return the pattern filled with real keys, then with each hostile value in each place."""
    real = _fill(pattern, lambda name: _real_value(pattern, name, seeded))
    if not _CONVERTER.search(pattern):
        return [real]
    hostile = [_fill(pattern, lambda name, value=value: value) for value in HOSTILE_VALUES]
    return [real, *hostile]


def _hostile_queries() -> list[str]:
    return [
        urlencode({name: value for name in QUERY_NAMES}) for value in ("\x00", LONG, "9" * 30)
    ] + [urlencode({"rule": DEEP_JSON, "definition": DEEP_JSON, "where": DEEP_JSON})]


def _hostile_forms() -> list[dict]:
    forms = [{name: value for name in FORM_NAMES} for value in HOSTILE_VALUES]
    forms.append({name: DEEP_JSON for name in FORM_NAMES})
    return forms


@pytest.fixture
def admin_client(client, db, settings):
    settings.SMS_INBOUND_SECRET = "fuzzing"  # configured: unsigned calls are refused (403)
    settings.SMS_RECEIPT_TOKEN = "fuzzing"  # likewise for delivery receipts
    user = UserFactory(username="fuzzing-ui-admin", is_superuser=True, is_staff=True)
    client.force_login(user)
    client.raise_request_exception = False
    client.fuzz_user = user
    return client


def _requests(client, path: str, *, forms: bool):
    """Yield (method, url, status) for GET with hostile queries and POSTs of hostile bodies."""
    yield "GET", path, client.get(path).status_code
    for query in _hostile_queries():
        yield "GET", f"{path}?{query[:200]}", client.get(f"{path}?{query}").status_code
    if not forms:
        return
    for form in _hostile_forms():
        shown = {k: v[:20] for k, v in list(form.items())[:2]}
        yield "POST", f"{path} {shown}", client.post(path, form).status_code
    response = client.post(path, DEEP_JSON, content_type="application/json")
    yield "POST", f"{path} deep JSON", response.status_code


def _server_errors(client, paths: list[str], *, forms: bool) -> list[str]:
    """Request the first path (real keys) every way, the others (hostile keys) by GET and POST."""
    errors = []
    for index, path in enumerate(paths):
        if index:
            asked = [("GET", path, client.get(path).status_code)]
            asked.append(("POST", path, client.post(path, {"name": "x"}).status_code))
        else:
            asked = _requests(client, path, forms=forms)
        for method, shown, status in asked:
            client.force_login(client.fuzz_user)  # a logout or a password change ends a session
            if status >= 500:
                errors.append(f"{method} {shown[:300]} → {status}")
    return errors


@pytest.mark.parametrize("pattern", UI_PATTERNS)
def test_no_hostile_path_query_or_form_makes_a_page_fail(admin_client, seeded, pattern):
    errors = _server_errors(admin_client, _paths(pattern, seeded), forms=True)

    assert errors == []


def test_no_hostile_path_or_query_makes_the_admin_fail(admin_client, seeded):
    errors = []
    for pattern in ADMIN_PATTERNS:
        if _CONVERTER.search(pattern):  # an object's page: hostile keys
            urls = [_fill(pattern, lambda name, value=value: value) for value in ("\x00", LONG)]
        elif not pattern.endswith("add/"):  # a list: hostile searches and filters
            path = _fill(pattern, str)
            urls = [f"{path}?{query}" for query in _hostile_queries()[:2]]
        else:  # Django prefills an add form from its query: only the page itself here
            urls = [_fill(pattern, str)]
        for url in urls:
            status = admin_client.get(url).status_code
            if status >= 500:
                errors.append(f"GET {url[:300]} → {status}")

    assert errors == []


def test_the_fuzz_covers_every_page_pattern():
    assert len(UI_PATTERNS) > 80
    assert "segments/<str:slug>/" in UI_PATTERNS
    assert "flows/<slug:slug>/steps/<slug:key>/edit/" in UI_PATTERNS
