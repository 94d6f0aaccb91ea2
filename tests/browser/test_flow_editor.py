"""In a real browser a campaign manager draws an abandoned-cart flow, takes it live, and watches
the counts on its cards move as events arrive through the API and time passes."""

import datetime
import os
import re

import pytest
import requests
from django.contrib.auth.models import Group
from django.utils import timezone

from campaigns import sms
from core import roles
from core.tokens import api_token_create
from flows.engine import enrollments_advance
from flows.models import Enrollment, Flow
from profiles.models import ProfileTag
from profiles.services.consent import ConsentEntry, consent_record
from tests.factories import ProfileFactory, TagFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SCREENSHOTS = os.environ.get("FLOW_SCREENSHOTS")  # a folder: save what the test saw there
# What must never show on the Chinese page: raw values and the English of the main labels.
RAW_OR_ENGLISH = (
    "update_profile",
    "until_event",
    ">live<",
    "Entered",
    "Waiting",
    "Passed",
    "Exited",
    "Converted",
    "Wait until",
    "Send SMS",
    "Add tag",
    "Go live",
    "Steps",
)


@pytest.fixture
def people(transactional_db, settings):
    settings.SMS_BACKEND = "campaigns.sms.LocmemBackend"
    settings.CAMPAIGN_QUIET_HOURS = None
    sms.outbox.clear()
    for name in (roles.CAMPAIGN_MANAGER, roles.OPS):  # a transactional test flushed them
        Group.objects.get_or_create(name=name)
    TagFactory(slug="converted", label="已转化客户")
    for n in (1, 2):
        profile = ProfileFactory(external_id=f"cart-{n}", phone=f"+861380013800{n}")
        consent_record(
            entry=ConsentEntry(
                profile_id=profile.pk,
                channel="sms",
                purpose="marketing",
                status="granted",
                source="admin",
                reason="signed up at the till",
            )
        )
    manager = UserFactory(username="browser-flows", roles=[roles.CAMPAIGN_MANAGER])
    ops = UserFactory(username="browser-ops", roles=[roles.OPS])
    return manager, api_token_create(user=ops)[1]


def _events_post(base_url: str, token: str, events: list[dict]) -> None:
    response = requests.post(
        f"{base_url}/api/v1/events/",
        json=events,
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text


def _login(page, user) -> None:
    page.goto("/flows/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/flows/")


def _add(page, where: str, kind: str) -> None:
    page.click(f"[data-testid={where}]")
    page.click(f"[data-testid=add-kind-{kind}]")
    page.wait_for_selector("[data-testid=step-form]")


def _save_step(page, key: str) -> None:
    page.click("[data-testid=save-step]")
    page.wait_for_selector(f"[data-testid=card-{key}]")
    assert page.locator("[data-testid=step-form]").count() == 0


def _build(page, *, sms: bool) -> None:
    """Draw "add_to_cart → wait 2 hours or until purchase → bought: tag converted; timed out:
    an SMS (``sms``) or nothing yet", in the browser."""
    page.click("[data-testid=new-flow]")
    page.fill("#id_name", "购物车挽回")
    page.fill("#id_slug", "cart-rescue")
    page.select_option("#id_trigger_type", "event")
    page.wait_for_selector("#id_segment", state="hidden")  # only the event trigger's fields show
    page.fill("#id_event", "add_to_cart")
    page.click("[data-testid=create-flow]")
    page.wait_for_selector("[data-testid=flow-editor]")

    _add(page, "add-start", "wait")
    page.select_option("#id_step-mode", "until_event")
    assert page.is_hidden("#id_step-time")
    page.fill("#id_step-event", "purchase")
    page.fill("#id_step-hours", "2")
    _save_step(page, "wait-1")
    _add(page, "add-in-wait-1-event", "update_profile")
    page.fill("#id_step-add_tags", "converted")
    _save_step(page, "update-1")
    if sms:
        _add(page, "add-in-wait-1-timeout", "send")
        page.select_option("#id_step-channel", "sms")
        assert page.is_hidden("#id_step-subject")
        page.fill("#id_step-body_text", "{{ name }}，您的购物车还在等您")
        _save_step(page, "send-1")


def _go_live(page) -> None:
    page.click("[data-testid=go-live]")
    page.wait_for_selector("[data-testid=flow-status]:has-text('已上线')")


def _cart_events(live_server, token: str, now: datetime.datetime) -> None:
    """Both profiles add to cart now, through the API."""
    _events_post(
        live_server.url,
        token,
        [
            {"external_id": f"cart-{n}", "name": "add_to_cart", "occurred_at": now.isoformat()}
            for n in (1, 2)
        ],
    )  # the ingest hook enrolls them and moves them onto the wait


def _cart_purchase_and_timeout(live_server, token: str, now: datetime.datetime) -> None:
    """cart-1 buys 30 minutes later; then the two hours pass."""
    bought = now + datetime.timedelta(minutes=30)
    _events_post(
        live_server.url,
        token,
        [{"external_id": "cart-1", "name": "purchase", "occurred_at": bought.isoformat()}],
    )
    # the hook woke cart-1, which took the event path; two hours later cart-2 times out
    enrollments_advance(now=now + datetime.timedelta(hours=2, minutes=1))


def _counts(page, key: str) -> dict[str, str]:
    return {
        which: page.inner_text(f"[data-testid=count-{which}-{key}]")
        for which in ("entered", "waiting", "passed", "exited", "converted")
    }


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def _overflowing(page) -> list[str]:
    """Return the cards and paths whose box leaves their container's box."""
    return page.evaluate(
        """() => {
          const out = [];
          const inside = (node, box) => {
            const r = node.getBoundingClientRect();
            return r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
          };
          document.querySelectorAll('.step-card, .step-path').forEach(node => {
            const name = node.id || node.dataset.testid;
            const parent = node.parentElement.closest('.step-path, .flow-tree');
            if (!inside(node, parent.getBoundingClientRect())) out.push(name);
            if (node.scrollWidth > node.clientWidth + 1) out.push(name + ' scrolls');
          });
          return out;
        }"""
    )


def test_a_manager_draws_a_cart_flow_fixes_it_takes_it_live_and_watches_its_counts(
    page, live_server, people
):
    manager, token = people
    _login(page, manager)
    _build(page, sms=False)
    page.click("[data-testid=settings-edit] summary")
    page.fill("#id_goal_event", "purchase")
    page.fill("#id_goal_days", "7")
    page.click("[data-testid=save-settings]")
    page.wait_for_selector("[data-testid=flow-editor]")

    page.click("[data-testid=go-live]")  # the timed-out path leads nowhere yet
    page.wait_for_selector("[data-testid=error-summary]")
    assert page.is_visible("[data-testid=path-error-wait-1-timeout]")
    _shot(page, "0-errors")
    assert page.inner_text("[data-testid=flow-status]") == "草稿"
    _add(page, "add-in-wait-1-timeout", "exit")
    _save_step(page, "exit-1")
    _add(page, "add-after-exit-1", "webhook")
    page.fill("#id_step-url", "https://crm.example.com/hooks/cart")
    _shot(page, "0-form")
    _save_step(page, "webhook-1")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=remove-webhook-1]")
    page.wait_for_selector("[data-testid=card-webhook-1]", state="detached")
    _go_live(page)
    assert Flow.objects.get().version.number == 1
    assert page.inner_text("[data-testid=words-wait-1]") == "等待直到 purchase，最多 2 小时"
    _shot(page, "1-live")

    now = timezone.now()
    _cart_events(live_server, token, now)
    page.reload()
    assert _counts(page, "wait-1") == {
        "entered": "2",
        "waiting": "2",
        "passed": "0",
        "exited": "0",
        "converted": "0",
    }
    _cart_purchase_and_timeout(live_server, token, now)
    page.reload()
    _shot(page, "2-counts")

    assert _counts(page, "wait-1") == {
        "entered": "2",
        "waiting": "0",
        "passed": "2",
        "exited": "0",
        "converted": "1",
    }
    assert _counts(page, "update-1")["passed"] == _counts(page, "exit-1")["passed"] == "1"
    assert page.inner_text("[data-testid=taken-wait-1-timeout]") == "· 1 人走此路径"
    assert ProfileTag.objects.filter(profile__external_id="cart-1", tag__slug="converted").exists()
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}
    assert 'lang="zh-hans"' in page.content()
    shown = page.inner_text("main")
    assert [word for word in RAW_OR_ENGLISH if word in shown] == []
    assert page.inner_text("[data-testid=card-update-1] .step-kind") == "更新用户"
    assert _overflowing(page) == []

    page.click("[data-testid=count-passed-exit-1]")
    page.wait_for_selector("[data-testid=step-profiles]")
    rows = page.inner_text("[data-testid=step-profiles] tbody")
    assert re.findall(r"cart-\d", rows) == ["cart-2"]
    assert page.console_errors == []


def test_the_cart_flow_texts_whoever_did_not_buy(page, live_server, people):
    manager, token = people
    _login(page, manager)
    _build(page, sms=True)
    _go_live(page)

    now = timezone.now()
    _cart_events(live_server, token, now)
    _cart_purchase_and_timeout(live_server, token, now)
    page.reload()

    assert _counts(page, "send-1")["passed"] == "1"
    assert (
        page.inner_text("[data-testid=words-send-1]") == "发送短信“{{ name }}，您的购物车还在等您”"
    )
    assert [message.to for message in sms.outbox] == ["+8613800138002"]
    assert _overflowing(page) == []
    assert page.console_errors == []
