"""The flows on the 360° profile page: where the profile is, in words, with the steps it took."""

import datetime
import re

import pytest
import time_machine

from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment
from flows.profile import profile_flows_context
from tests.factories import ProfileFactory
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC)
BRANCH = {
    "key": "city",
    "kind": "branch",
    "name": "上海客户?",
    "rule": {"attr": "city", "op": "eq", "value": "上海"},
    "paths": {
        "yes": [{"key": "w", "kind": "wait", "duration": {"days": 2}}],
        "no": [{"key": "x", "kind": "exit"}],
    },
}
RAW_VALUES = ("active", "completed", "exited", "exit_step", "yes", "done", "wait", "branch")


@pytest.fixture
def alice():
    """Alice waits in one flow (after a branch) and has left another at its exit step."""
    profile = ProfileFactory(external_id="alice", city="上海")
    waiting = live_flow([BRANCH], slug="welcome")
    done = live_flow([{"key": "x", "kind": "exit"}], slug="old")
    with time_machine.travel(NOW - datetime.timedelta(days=1), tick=False):
        flow_enroll(flow=done, profile_ids=[profile.pk])
        enrollments_advance()
    with time_machine.travel(NOW, tick=False):
        flow_enroll(flow=waiting, profile_ids=[profile.pk])
        enrollments_advance()
    return profile


def _section(html: str) -> str:
    start = html.index('data-testid="profile-flows"')
    return html[start : html.index("</section>", start)]


def _words(html: str) -> set[str]:
    return set(re.findall(r"[a-z_]+", re.sub(r"<[^>]*>", " ", html)))


def test_the_section_lists_the_active_flow_first_with_its_step_and_history(ops_client, alice):
    html = _section(ops_client.get("/profiles/alice/").content.decode())

    rows = re.findall(r'data-flow="([^"]+)"', html)
    assert rows == ["welcome", "old"]
    assert "上海客户? · Branch" in html
    assert "w · Wait" in html
    assert "In the flow" in html
    assert "Reached an exit step" in html
    assert "2026-12-07 10:00" in html  # entered at, in Asia/Shanghai


def test_the_section_speaks_chinese_without_raw_values(ops_client, alice):
    ops_client.cookies["django_language"] = "zh-hans"

    html = _section(ops_client.get("/profiles/alice/").content.decode())

    assert "流程" in html
    assert "在流程中" in html
    assert "已完成" in html
    assert "上海客户? · 分支" in html
    assert "w · 等待" in html
    assert "到达退出步骤" in html
    assert "是" in html
    assert _words(html).isdisjoint(RAW_VALUES)


def test_a_profile_in_no_flow_says_so(ops_client):
    ProfileFactory(external_id="bob")

    html = _section(ops_client.get("/profiles/bob/").content.decode())

    assert 'data-testid="no-flows"' in html


def test_the_history_shows_each_step_with_its_outcome_in_order(alice):
    context = profile_flows_context(alice)

    (welcome, old) = context["enrollments"]
    assert [(run["step"], run["outcome"]) for run in welcome["history"]] == [
        ("上海客户? · Branch", "Yes")
    ]
    assert [(run["step"], run["status"]) for run in old["history"]] == [("x · Exit", "Done")]
    assert (welcome["entry"], welcome["version"], welcome["status_label"]) == (
        1,
        1,
        "In the flow",
    )


@pytest.mark.urls("tests.flows.urlconf_detail")
def test_a_flow_links_to_its_page_when_there_is_one(alice):
    rows = profile_flows_context(alice)["enrollments"]

    assert [row["url"] for row in rows] == ["/flows/welcome/", "/flows/old/"]


@pytest.mark.urls("tests.flows.urlconf_bare")
def test_a_flow_links_nowhere_without_a_flow_page(alice):
    rows = profile_flows_context(alice)["enrollments"]

    assert [row["url"] for row in rows] == ["", ""]


def test_an_exit_by_rule_says_why_in_words():
    flow = live_flow([{"key": "w", "kind": "wait", "duration": {"days": 1}}], slug="cart")
    profile = ProfileFactory()
    flow_enroll(flow=flow, profile_ids=[profile.pk])
    Enrollment.objects.update(status=Enrollment.Status.EXITED, exit_reason="event:purchase")

    (row,) = profile_flows_context(profile)["enrollments"]

    assert (row["status_label"], row["exit_reason"]) == ("Exited", "Did “purchase”")
