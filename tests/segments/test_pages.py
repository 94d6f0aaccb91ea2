"""Segment pages: the list, a segment with its history, evaluate now, and the members CSV."""

import pytest

from core.exports import csv_safe
from segments.models import Segment
from segments.services import segment_evaluate
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

RULE = {"all": [{"attr": "city", "op": "eq", "value": "上海"}]}


@pytest.fixture
def segment(db):
    return Segment.objects.create(name="上海用户", slug="shanghai", rule=RULE)


def test_the_list_shows_each_segment_with_its_size(ops_client, segment):
    ProfileFactory(city="上海")
    segment_evaluate(segment_id=segment.pk)

    page = ops_client.get("/segments/").content.decode()

    assert "上海用户" in page
    assert "/segments/shanghai/" in page


def test_the_segment_page_shows_the_rule_the_runs_and_the_size_history(ops_client, segment):
    ProfileFactory(city="上海")
    segment_evaluate(segment_id=segment.pk)

    page = ops_client.get("/segments/shanghai/").content.decode()

    assert "&quot;value&quot;: &quot;上海&quot;" in page  # the rule as JSON, escaped
    assert "One size so far: 1 member at " in page  # one run: a sentence, not a chart
    assert 'data-testid="size">1<' in page


def test_evaluate_now_runs_the_evaluation(ops_client, segment, django_capture_on_commit_callbacks):
    ProfileFactory(city="上海")

    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post("/segments/shanghai/evaluate/")

    segment.refresh_from_db()
    assert response["Location"] == "/segments/shanghai/"
    assert (segment.status, segment.size) == (Segment.Status.READY, 1)


def test_the_members_csv_escapes_formulas(ops_client, segment):
    ProfileFactory(external_id="=HYPERLINK(1)", city="上海", email="a@example.com")
    segment_evaluate(segment_id=segment.pk)

    response = ops_client.get("/segments/shanghai/members.csv")

    body = b"".join(response.streaming_content).decode("utf-8-sig")  # with a byte order mark
    assert body.splitlines()[0].startswith("external_id,email,since,")
    assert body.splitlines()[1].startswith("'=HYPERLINK(1),a***@example.com,")  # ops: masked


def test_only_ops_staff_evaluate_or_export(client, campaign_manager, segment):
    client.force_login(campaign_manager)

    assert client.post("/segments/shanghai/evaluate/").status_code == 403
    assert client.get("/segments/shanghai/members.csv").status_code == 403
    assert client.get("/segments/shanghai/").status_code == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+86", "'+86"),
        ("-x", "'-x"),
        ("@a", "'@a"),
        ("上海", "上海"),
        (None, ""),
    ],
)
def test_csv_cells_that_look_like_formulas_are_quoted(value, expected):
    assert csv_safe(value) == expected


def test_a_queued_segment_page_polls_its_status_until_the_evaluation_is_done(ops_client, segment):
    Segment.objects.filter(pk=segment.pk).update(status=Segment.Status.QUEUED)

    page = ops_client.get("/segments/shanghai/").content.decode()
    waiting = ops_client.get("/segments/shanghai/status/", headers={"HX-Request": "true"})
    segment_evaluate(segment_id=segment.pk)
    done = ops_client.get("/segments/shanghai/status/", headers={"HX-Request": "true"})

    assert 'hx-get="/segments/shanghai/status/"' in page and 'hx-trigger="every 1s"' in page
    assert waiting.status_code == 200 and "HX-Refresh" not in waiting.headers
    assert "Queued" in waiting.content.decode()
    assert done.headers["HX-Refresh"] == "true"  # htmx reloads the page with the new result
    assert "hx-get" not in done.content.decode()
    assert (
        "/segments/shanghai/status/" not in ops_client.get("/segments/shanghai/").content.decode()
    )


def test_an_outsider_cannot_read_a_segments_status(client, outsider, segment):
    client.force_login(outsider)

    assert client.get("/segments/shanghai/status/").status_code == 403
