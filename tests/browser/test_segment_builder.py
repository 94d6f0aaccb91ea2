"""In a real browser an ops user builds a two-level rule, sees the live count, saves, evaluates."""

import datetime
import json

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, Send, TrackingEvent
from core import roles
from journeys.services import stages_ensure_defaults
from profiles.models import Profile
from segments.models import Segment
from tests.factories import (
    ProfileFactory,
    ProfileTagFactory,
    PurchaseFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
TWO_LEVELS = {
    "all": [
        {"attr": "city", "op": "eq", "value": "上海"},
        {
            "any": [
                {"tag": "coupon-lover", "op": "has"},
                {"event": "purchase", "within_days": 90, "count": {"gte": 1}},
            ]
        },
    ]
}


@pytest.fixture
def ops_with_people(transactional_db):
    Group.objects.get_or_create(name=roles.OPS)  # an earlier transactional test flushed it
    TagFactory(slug="aaa-first")  # the picker does not simply default to the right tag
    tag = TagFactory(slug="coupon-lover")
    ProfileTagFactory(profile=ProfileFactory(external_id="sh-tagged", city="上海"), tag=tag)
    sixty_days_ago = timezone.now() - datetime.timedelta(days=60)
    PurchaseFactory(
        profile=ProfileFactory(external_id="sh-buyer", city="上海"), occurred_at=sixty_days_ago
    )
    ProfileFactory(external_id="sh-idle", city="上海")
    PurchaseFactory(profile=ProfileFactory(external_id="bj-buyer", city="北京"))
    return UserFactory(username="browser-builder", roles=[roles.OPS])


def test_an_ops_user_builds_saves_and_evaluates_a_two_level_segment(page, ops_with_people):
    page.goto("/segments/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", ops_with_people.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/")

    page.click("a[href='/segments/new/']")
    page.wait_for_selector("[data-path='rule'][data-kind='all']")
    page.fill("#id_name", "上海活跃")
    page.fill("#id_slug", "sh-active")
    page.fill("[data-path='all[0]'] [data-role=value]", "上海")
    page.wait_for_selector("[data-testid=preview-count]:text-is('3')")

    page.click("[data-path='rule'] > .rb-foot [data-role=add-group]")
    page.select_option("[data-path='all[1].any[0]'] [data-role=kind]", "tag")
    page.select_option("[data-path='all[1].any[0]'] [data-role=tag]", "coupon-lover")
    page.click("[data-path='all[1]'] > .rb-foot [data-role=add-condition]")
    page.select_option("[data-path='all[1].any[1]'] [data-role=kind]", "event_count")
    event = "[data-path='all[1].any[1]']"
    page.fill(f"{event} [data-role=event]", "purchase")
    page.select_option(f"{event} [data-role=op]", "gte")
    page.fill(f"{event} [data-role=value]", "1")
    page.wait_for_selector("[data-testid=preview-count]:text-is('1')")  # bought 60 days ago
    page.fill(f"{event} [data-role=within-days]", "90")

    page.wait_for_selector("[data-testid=preview-count]:text-is('2')")
    assert json.loads(page.input_value("#id_rule")) == TWO_LEVELS
    assert json.loads(page.inner_text("[data-testid=rule-json]")) == TWO_LEVELS
    assert sorted(page.locator("[data-testid=preview-sample] a").all_inner_texts()) == [
        "sh-buyer",
        "sh-tagged",
    ]

    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/sh-active/")
    assert Segment.objects.get(slug="sh-active").rule == TWO_LEVELS
    page.click("form[action$='/evaluate/'] button")
    page.wait_for_url("**/segments/sh-active/")
    page.reload()

    members = page.locator("[data-testid=members] tbody a").all_inner_texts()
    assert sorted(members) == ["sh-buyer", "sh-tagged"]
    assert page.inner_text("[data-testid=size]") == "2"
    assert page.console_errors == []


PRODUCT_EXAMPLE = {
    "all": [
        {"attr": "city", "op": "in", "value": ["上海", "北京"]},
        {"attr": "traits.membership", "op": "eq", "value": "gold"},
        {"attr": "signup_at", "op": "within_last_days", "value": 365},
        {"attr": "monetary", "op": "between", "value": [100, 500.5]},
        {"attr": "email", "op": "is_set"},
        {"tag": "coupon-lover", "op": "has"},
        {"event": "purchase", "within_days": 90, "count": {"gte": 2}},
        {"event": "purchase", "within_days": 365, "sum": "amount", "value": {"gt": 500}},
        {
            "event": "purchase",
            "where": {"category": "beauty"},
            "within_days": 90,
            "count": {"gte": 1},
        },
        {"message": "opened", "campaign": "spring-sale", "within_days": 30},
        {
            "any": [
                {"event": "feedback", "within_days": 180, "count": {"eq": 0}},
                {"not": {"segment": "complainers"}},
            ]
        },
        {"consent": "email", "op": "granted"},
        {"stage": "repurchase", "op": "reached"},
    ]
}


def test_the_builder_shows_any_rule_and_saves_it_unchanged(page, ops_with_people):
    stages_ensure_defaults()  # the example names the stage "repurchase", checked on save
    Campaign.objects.create(name="春季促销", slug="spring-sale", channel="email")  # checked too
    Segment.objects.create(name="c", slug="complainers", kind=Segment.Kind.STATIC, rule={})
    Segment.objects.create(name="e", slug="example", rule=PRODUCT_EXAMPLE)
    page.goto("/segments/example/edit/")
    page.fill("#id_username", ops_with_people.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/example/edit/")

    page.wait_for_selector("[data-path='all[10].any[1]'][data-kind='not']")
    assert page.input_value("[data-path='all[0]'] [data-role=value]") == "上海, 北京"
    assert page.input_value("[data-path='all[1]'] [data-role=trait-key]") == "membership"
    assert page.input_value("[data-path='all[8]'] [data-role=property-name]") == "category"
    assert page.input_value("[data-path='all[8]'] [data-role=property-value]") == "beauty"
    assert page.input_value("[data-path='all[9]'] [data-role=campaign]") == "spring-sale"
    assert page.input_value("[data-path='all[11]'] [data-role=consent]") == "email"
    assert page.input_value("[data-path='all[12]'] [data-role=stage]") == "repurchase"
    assert page.locator("[data-role=read-only]").count() == 0  # every kind has its editor
    assert json.loads(page.inner_text("[data-testid=rule-json]")) == PRODUCT_EXAMPLE
    # The compiler may refuse a condition it cannot run yet (consent): the path is shown.
    page.wait_for_selector("#rule-preview :is([data-testid=preview-count], .error)")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/example/")

    assert Segment.objects.get(slug="example").rule == PRODUCT_EXAMPLE
    assert page.console_errors == []


PROPERTIES_AND_ENGAGEMENT = {
    "all": [
        {
            "event": "purchase",
            "where": {"category": "beauty"},
            "within_days": 90,
            "count": {"gte": 1},
        },
        {"message": "opened", "campaign": "spring", "within_days": 7},
    ]
}


def test_an_ops_user_builds_a_rule_on_event_properties_and_opened_messages(page, ops_with_people):
    now = timezone.now()
    spring = Campaign.objects.create(name="春季促销", slug="spring", channel="email")
    Campaign.objects.create(name="秋季", slug="autumn", channel="email")
    for who, category, opened in (
        ("sh-tagged", "beauty", True),
        ("sh-idle", "beauty", False),
        ("bj-buyer", "food", True),
    ):
        profile = Profile.objects.get(external_id=who)
        PurchaseFactory(
            profile=profile,
            occurred_at=now - datetime.timedelta(days=1),
            properties={"category": category},
        )
        send = Send.objects.create(
            campaign=spring,
            profile=profile,
            status="sent",
            sent_at=now - datetime.timedelta(days=2),
        )
        if opened:
            TrackingEvent.objects.create(
                send=send, kind="open", at=now - datetime.timedelta(days=1)
            )
    page.goto("/segments/new/")
    page.fill("#id_username", ops_with_people.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/new/")
    page.wait_for_selector("[data-path='rule'][data-kind='all']")
    page.fill("#id_name", "美妆打开者")
    page.fill("#id_slug", "beauty-openers")

    event = "[data-path='all[0]']"
    page.select_option(f"{event} [data-role=kind]", "event_count")
    page.fill(f"{event} [data-role=event]", "purchase")
    page.fill(f"{event} [data-role=within-days]", "90")
    page.click(f"{event} [data-role=add-property]")
    page.fill(f"{event} [data-role=property-name]", "category")
    page.fill(f"{event} [data-role=property-value]", "beauty")
    page.wait_for_selector("[data-testid=preview-count]:text-is('2')")  # sh-tagged, sh-idle
    page.click("[data-path='rule'] > .rb-foot [data-role=add-condition]")
    message = "[data-path='all[1]']"
    page.select_option(f"{message} [data-role=kind]", "message")
    assert page.inner_text(f"{message} [data-role=kind] option:checked") == "消息互动"
    assert page.inner_text(f"{message} [data-role=message] option:checked") == "打开过"
    page.select_option(f"{message} [data-role=campaign]", "spring")
    page.fill(f"{message} [data-role=within-days]", "7")

    page.wait_for_selector("[data-testid=preview-count]:text-is('1')")
    assert json.loads(page.input_value("#id_rule")) == PROPERTIES_AND_ENGAGEMENT
    assert page.locator("[data-testid=preview-sample] a").all_inner_texts() == ["sh-tagged"]
    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/beauty-openers/")
    assert Segment.objects.get(slug="beauty-openers").rule == PROPERTIES_AND_ENGAGEMENT
    assert page.console_errors == []


def test_an_ops_user_builds_an_event_property_rule_in_chinese_and_reads_it_as_a_sentence(
    page, ops_with_people
):
    PurchaseFactory(
        profile=Profile.objects.get(external_id="sh-idle"),
        occurred_at=timezone.now() - datetime.timedelta(days=3),
        properties={"category": "beauty"},
    )
    page.goto("/segments/new/")
    page.fill("#id_username", ops_with_people.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/segments/new/")
    page.wait_for_selector("[data-path='rule'][data-kind='all']")
    city = "[data-path='all[0]']"
    assert page.inner_text(f"{city} [data-role=attr] option:checked") == "城市"
    assert page.get_attribute(f"{city} [data-role=attr]", "title") == "city"
    assert page.inner_text(f"{city} [data-role=op] option:checked") == "等于"
    page.fill(f"{city} [data-role=value]", "上海")

    page.click("[data-path='rule'] > .rb-foot [data-role=add-condition]")
    event = "[data-path='all[1]']"
    page.select_option(f"{event} [data-role=kind]", "event_count")
    page.fill(f"{event} [data-role=event]", "purchase")
    assert page.inner_text(f"{event} [data-role=event-label]") == "购买"
    page.select_option(f"{event} [data-role=op]", "gte")
    assert page.inner_text(f"{event} [data-role=op] option:checked") == "≥"
    page.fill(f"{event} [data-role=value]", "1")
    page.fill(f"{event} [data-role=within-days]", "30")
    page.click(f"{event} [data-role=add-property]")
    page.fill(f"{event} [data-role=property-name]", "category")
    page.fill(f"{event} [data-role=property-value]", "beauty")

    sentence = "城市 等于 上海 且 最近 30 天 购买（category = beauty） 次数 ≥ 1"
    expect(page.locator("[data-testid=rule-sentence]")).to_have_text(sentence)
    page.wait_for_selector("[data-testid=preview-count]:text-is('1')")  # sh-idle
    assert page.get_attribute("[data-testid=rule-sentence] [title=purchase]", "title") == (
        "purchase"
    )
    assert page.console_errors == []
