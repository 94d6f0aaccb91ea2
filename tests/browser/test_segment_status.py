"""In a real browser, a segment page that says "queued" updates by itself once it is evaluated."""

import pytest
from django.contrib.auth.models import Group

from core import roles
from segments.models import Segment
from segments.services import segment_evaluate
from tests.browser.conftest import log_in
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ops_user_with_queued_segment(transactional_db):
    Group.objects.get_or_create(name=roles.OPS)  # an earlier transactional test flushed it
    ProfileFactory.create_batch(2, city="上海")
    Segment.objects.create(
        name="Shanghai",
        slug="sh",
        rule={"attr": "city", "op": "eq", "value": "上海"},
        status=Segment.Status.QUEUED,
    )
    return UserFactory(username="status-ops", roles=[roles.OPS])


def test_the_page_leaves_queued_without_a_reload_once_the_evaluation_is_done(
    page, ops_user_with_queued_segment
):
    log_in(page, ops_user_with_queued_segment, PASSWORD)
    page.goto("/segments/sh/")
    assert page.inner_text("[data-testid=size]") == "0"
    assert page.locator("[data-testid=status][hx-get]").count() == 1

    segment_evaluate(segment_id=Segment.objects.get(slug="sh").pk)  # a worker's evaluation

    page.wait_for_selector("[data-testid=size]:has-text('2')", timeout=10000)
    assert page.locator("[data-testid=status][hx-get]").count() == 0
    assert page.inner_text("[data-testid=status]") == "就绪"
    assert page.console_errors == []
