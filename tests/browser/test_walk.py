"""A person walks every screen, in Chinese and in English, at 1,440 and 1,024 pixels wide, on demo
data: no chart wider than its card, no date axis shorter than a second, no English msgid, raw enum
or English phrase on a Chinese page, no console error and no failed request."""

import datetime

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Campaign, TrackingEvent
from flows.models import Flow
from profiles.models import Profile
from segments.models import Segment
from tests.browser.conftest import CSP_LISTENER, log_in
from tests.browser.screen_checks import data_strings, screen_problems
from tests.campaigns.results_builders import campaign_started, ledger_add, purchase, track
from tests.factories import UserFactory
from tools.management.commands.demo_setup import Command as DemoSetup

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
WIDTHS = (1440, 1024)
LANGUAGES = {"zh-hans": "zh-CN", "en": "en-US"}


@pytest.fixture
def demo(transactional_db):
    """The demo's data at a small scale (profiles, events, tags, predictions, segments, a live
    flow), a campaign with results, and a superuser."""
    cache.clear()
    call_command("seed_demo", profiles=200, events=2000, stdout=open("/dev/null", "w"))  # noqa: SIM115
    setup = DemoSetup(stdout=open("/dev/null", "w"))  # noqa: SIM115
    setup._segments()
    setup._flow()
    campaign = campaign_started(slug="spring", started_at=timezone.now(), holdout_percent=10)
    sent = ledger_add(campaign, 20, variant="A") + ledger_add(campaign, 20, variant="B")
    track(sent[:9], TrackingEvent.Kind.OPEN)
    track(sent[:3], TrackingEvent.Kind.CLICK)
    for row in sent[:2]:
        purchase(row, (row.sent_at or campaign.started_at) + datetime.timedelta(hours=1))
    user = UserFactory(username="walker", is_superuser=True, is_staff=True)
    yield user
    cache.clear()


def screens() -> list[str]:
    """Return every screen a person reaches from the menus, with the demo's objects in it."""
    profile = Profile.objects.order_by("pk").first().external_id
    segment = Segment.objects.get(slug="shanghai").slug
    campaign = Campaign.objects.get(slug="spring").slug
    flow = Flow.objects.get(slug="cart-reminder")
    step = next(iter(flow.definition["steps"]))["key"]
    return [
        "/",
        "/profiles/",
        f"/profiles/{profile}/",
        "/profiles/tags/",
        "/profiles/import/",
        "/profiles/consent/",
        f"/profiles/consent/{profile}/",
        "/profiles/consent/import/",
        "/profiles/consent/report/",
        "/profiles/consent/audit/",
        "/segments/",
        "/segments/new/",
        f"/segments/{segment}/",
        f"/segments/{segment}/edit/",
        f"/segments/{segment}/why/?profile={profile}",
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{campaign}/",
        f"/campaigns/{campaign}/edit/",
        f"/campaigns/{campaign}/report/",
        f"/campaigns/{campaign}/results/",
        "/flows/",
        "/flows/new/",
        f"/flows/{flow.slug}/",
        f"/flows/{flow.slug}/steps/{step}/edit/",
        f"/flows/{flow.slug}/steps/{step}/profiles/",
        "/journeys/",
        "/journeys/new/",
        "/journeys/funnel/",
        "/predictions/",
        "/predictions/clusters/",
        "/predictions/rules/",
        "/jobs/",
        "/accounts/password/",
    ]


class Watcher:
    """Collects what goes wrong in the browser while a screen is open: console errors, page
    errors, failed requests and answers of 400 or more, each with the screen it happened on."""

    def __init__(self, page, problems: list[str]):
        self.problems, self.where = problems, "login"
        page.on("console", self.console)
        page.on("pageerror", lambda exc: self.add(f"error: {exc}"))
        page.on("requestfailed", lambda request: self.add(f"failed request {request.url}"))
        page.on("response", self.response)

    def add(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def console(self, message) -> None:
        if message.type == "error":
            self.add(f"console: {message.text}")

    def response(self, response) -> None:
        if response.status >= 400:
            self.add(f"HTTP {response.status} for {response.url}")


def walk(browser, live_server, user, language: str) -> list[str]:
    """Open every screen at each width in ``language``; return what is wrong, per screen.

    One sign-in serves both widths (the window is resized): a second two-step sign-in within
    the same 30 seconds would offer the same code, which the one-time password refuses."""
    problems: list[str] = []
    context = browser.new_context(
        base_url=live_server.url,
        locale=LANGUAGES[language],
        viewport={"width": WIDTHS[0], "height": 900},
    )
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    context.expose_binding("__cspViolation", lambda _source, text: problems.append(text))
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    watcher = Watcher(page, problems)
    log_in(page, user, PASSWORD)
    data = data_strings()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in screens():
            watcher.where = f"{language} {width}px {path}"
            page.goto(path)
            page.wait_for_load_state("networkidle")
            problems += [
                f"{watcher.where}: {problem}"
                for problem in screen_problems(page, chinese=language == "zh-hans", data=data)
            ]
    context.close()
    return problems


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_screen_reads_well_in_each_language_and_width(browser, live_server, demo, language):
    problems = walk(browser, live_server, demo, language)

    assert problems == [], "\n".join(problems)
