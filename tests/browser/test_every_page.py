"""Every screen opens in a real browser, for a superuser (past the two-step sign-in), with no error,
no console error and no Content-Security-Policy violation; every answer carries the policy."""

import pytest

from campaigns.models import Campaign, Variant
from flows.services import flow_create
from profiles.models import ConsentSource
from profiles.services.consent import ConsentEntry, consent_record
from profiles.services.consent_links import consent_token_make, preferences_token_make
from segments.models import Segment
from tests.browser.conftest import log_in
from tests.factories import EventFactory, ProfileFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_with_data(transactional_db):
    profile = ProfileFactory(external_id="P-1", email="li@example.com", city="上海")
    EventFactory.create_batch(2, profile=profile, channel="app")
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose="marketing",
            status="granted",
            source=ConsentSource.WEB_FORM,
        )
    )
    Segment.objects.create(
        name="上海", slug="shanghai", rule={"attr": "city", "op": "eq", "value": "上海"}
    )
    campaign = Campaign.objects.create(name="春季", slug="spring", channel="email")
    Variant.objects.create(campaign=campaign, key="A", subject="你好 {{ name }}", body_text="Hi")
    flow_create(
        name="购物车",
        slug="cart",
        definition={
            "trigger": {"type": "event", "event": "add_to_cart"},
            "steps": [{"key": "wait-1", "kind": "wait", "duration": {"hours": 2}}],
        },
    )
    user = UserFactory(username="browser-admin", is_superuser=True, is_staff=True)
    return user, profile


PAGES = [
    "/",
    "/profiles/",
    "/profiles/P-1/",
    "/profiles/tags/",
    "/profiles/import/",
    "/profiles/consent/",
    "/profiles/consent/P-1/",
    "/profiles/consent/import/",
    "/profiles/consent/report/",
    "/profiles/consent/audit/",
    "/segments/",
    "/segments/new/",
    "/segments/shanghai/",
    "/segments/shanghai/edit/",
    "/campaigns/",
    "/campaigns/new/",
    "/campaigns/spring/",
    "/campaigns/spring/edit/",
    "/campaigns/spring/review/",
    "/campaigns/spring/report/",
    "/campaigns/spring/results/",
    "/flows/",
    "/flows/new/",
    "/flows/cart/",
    "/flows/cart/steps/wait-1/edit/",
    "/flows/cart/steps/wait-1/profiles/",
    "/journeys/new/",
    "/journeys/",
    "/journeys/funnel/",
    "/predictions/",
    "/predictions/clusters/",
    "/predictions/rules/",
    "/jobs/",
    "/api/v1/docs/",
    "/accounts/password/",
]
# Django's admin asks for /favicon.ico (a 404 in the console): checked for the policy only.
ADMIN_PAGES = ["/admin/", "/admin/core/apitoken/", "/admin/otp_totp/totpdevice/"]


def _policy_failure(path: str, response) -> str | None:
    """Return what is wrong with the page's Content-Security-Policy, or None."""
    policy = response.headers.get("content-security-policy", "")
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
    )
    script = directives.get("script-src", "")
    if "'self'" not in script or "unsafe-inline" in script or "unsafe-eval" in script:
        return f"{path}: script-src is {script!r}"
    if directives.get("object-src") != "'none'" or directives.get("frame-ancestors") != "'none'":
        return f"{path}: no object-src/frame-ancestors 'none' in {policy!r}"
    return None


def test_every_page_opens_without_errors(page, admin_with_data):
    user, profile = admin_with_data
    log_in(page, user, PASSWORD)

    failures = []
    token = consent_token_make(profile_id=profile.pk, channel="email")
    preferences = preferences_token_make(profile_id=profile.pk, channel="email")
    for path in [*PAGES, f"/c/preferences/{preferences}/", f"/c/unsubscribe/{token}/"]:
        response = page.goto(path)
        page.wait_for_load_state("networkidle")
        if response is None or response.status >= 400:
            failures.append(f"{path}: HTTP {response and response.status}")
            continue
        if not page.locator("h1, #swagger-ui").count():
            failures.append(f"{path}: no heading")
        failures.append(_policy_failure(path, response))

    console_errors = list(page.console_errors)
    for path in ADMIN_PAGES:
        response = page.goto(path)
        page.wait_for_load_state("networkidle")
        failures.append(_policy_failure(path, response) if response.ok else f"{path}: HTTP")

    assert [failure for failure in failures if failure] == []
    assert page.csp_violations == []
    assert console_errors == []
