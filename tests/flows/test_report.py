"""The flow report: totals, each split's paths against the control, each send step's delivery."""

import datetime

import pytest

from campaigns.models import Send, TrackingEvent
from campaigns.results import lift, proportion, two_proportion_z_test
from flows.models import Enrollment, Flow, FlowMessage, FlowVersion, StepRun
from flows.report import flow_report
from flows.services import flow_create, flow_update
from tests.campaigns.results_builders import campaign_started, ledger_add, track
from tests.factories import ProfileFactory
from tests.flows.helpers import definition, email_step, live_flow

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)


def split_step(percents: dict, control="control") -> dict:
    return {
        "key": "test",
        "kind": "split",
        "name": "Coupon or not",
        "percents": percents,
        "control": control,
        "paths": {path: [{"key": f"end-{path}", "kind": "exit"}] for path in percents},
    }


def enrolled(flow: Flow, version: FlowVersion, path: str, n: int, converted: int, **fields):
    """Add ``n`` enrollments of one profile that the split sent down ``path`` (each an entry)."""
    profile = ProfileFactory()
    fields = {"status": Enrollment.Status.COMPLETED, **fields}
    rows = Enrollment.objects.bulk_create(
        [
            Enrollment(
                flow=flow,
                version=version,
                profile=profile,
                entry=entry,
                step_key=f"end-{path}",
                step_since=NOW,
                entered_at=NOW,
                converted_at=NOW if entry <= converted else None,
                **fields,
            )
            for entry in range(1, n + 1)
        ]
    )
    StepRun.objects.bulk_create(
        StepRun(enrollment=row, flow=flow, step_key="test", status="done", outcome=path, at=NOW)
        for row in rows
    )


@pytest.fixture
def split_flow() -> Flow:
    return live_flow([split_step({"control": 50, "coupon": 50})], slug="split")


def test_each_path_has_its_conversions_and_rate_with_an_interval(split_flow):
    version = split_flow.version
    enrolled(split_flow, version, "control", 200, 20)
    enrolled(split_flow, version, "coupon", 200, 40)

    (split,) = flow_report(flow=split_flow)["splits"]

    control, coupon = split["paths"]
    assert (split["key"], split["control"], split["enrollments"]) == ("test", "control", 400)
    assert (control["path"], control["is_control"], control["vs_control"]) == (
        "control",
        True,
        None,
    )
    assert (coupon["enrollments"], coupon["conversions"]) == (200, 40)
    assert coupon["conversion_rate"] == proportion(40, 200)
    assert coupon["conversion_rate"].low < 0.2 < coupon["conversion_rate"].high


def test_a_path_is_compared_with_the_control_as_campaign_results_are(split_flow):
    version = split_flow.version
    enrolled(split_flow, version, "control", 200, 20)
    enrolled(split_flow, version, "coupon", 200, 40)

    coupon = flow_report(flow=split_flow)["splits"][0]["paths"][1]

    z, p = two_proportion_z_test(20, 200, 40, 200)
    assert coupon["vs_control"]["test"] == {"z": z, "p": p, "significant": True}
    assert coupon["vs_control"]["lift"] == lift(40, 200, 20, 200)
    assert coupon["vs_control"]["lift"]["difference"] == pytest.approx(0.1)
    assert coupon["vs_control"]["lift"]["relative"] == pytest.approx(1.0)


def test_without_a_control_the_first_path_is_the_reference():
    flow = live_flow([split_step({"a": 50, "b": 50}, control=None)], slug="ab")
    enrolled(flow, flow.version, "a", 100, 10)
    enrolled(flow, flow.version, "b", 100, 12)

    (split,) = flow_report(flow=flow)["splits"]

    assert split["control"] == "a"
    assert [row["vs_control"] is None for row in split["paths"]] == [True, False]


def test_the_sample_ratio_check_expects_each_versions_own_percentages(split_flow):
    first = split_flow.version
    flow_update(flow=split_flow, definition=definition([split_step({"control": 20, "coupon": 80})]))
    second = Flow.objects.get(pk=split_flow.pk).version
    enrolled(split_flow, first, "control", 100, 0)
    enrolled(split_flow, first, "coupon", 100, 0)
    enrolled(split_flow, second, "control", 40, 0)
    enrolled(split_flow, second, "coupon", 160, 0)

    (split,) = flow_report(flow=split_flow)["splits"]

    assert second.number == 2
    assert split["srm"]["observed"] == [140, 260]
    assert split["srm"]["expected"] == pytest.approx([140, 260])
    assert split["srm"]["mismatch"] is False


def test_a_split_drawn_off_its_percentages_is_flagged(split_flow):
    enrolled(split_flow, split_flow.version, "control", 300, 0)
    enrolled(split_flow, split_flow.version, "coupon", 100, 0)

    (split,) = flow_report(flow=split_flow)["splits"]

    assert split["srm"]["mismatch"] is True


def test_the_totals_count_entries_by_status_and_exit_reason(split_flow):
    version = split_flow.version
    enrolled(split_flow, version, "control", 3, 1)
    enrolled(split_flow, version, "coupon", 2, 0, exit_reason="event:purchase", status="exited")
    enrolled(split_flow, version, "coupon", 1, 1, exit_reason="segment_left", status="exited")
    enrolled(split_flow, version, "control", 1, 0, status="active")

    totals = flow_report(flow=split_flow)["totals"]

    assert (totals["entered"], totals["active"], totals["completed"], totals["exited"]) == (
        7,
        1,
        3,
        3,
    )
    assert totals["exited_by_reason"] == [
        {"reason": "event:purchase", "label": "Did “purchase”", "n": 2},
        {"reason": "segment_left", "label": "Left the segment", "n": 1},
    ]
    assert totals["converted"] == 2
    assert totals["conversion_rate"] == proportion(2, 7)


def _step_campaign(flow: Flow, number: int, slug: str):
    version = FlowVersion.objects.create(flow=flow, number=number, definition=flow.definition)
    campaign = campaign_started(slug=slug, weights=(100,))
    FlowMessage.objects.create(version=version, step_key="mail", campaign=campaign)
    return campaign


def test_a_send_step_sums_the_delivery_of_its_versions_campaigns():
    flow = flow_create(name="Mail", slug="mail", definition=definition([email_step("mail")]))
    first, second = _step_campaign(flow, 1, "mail-v1"), _step_campaign(flow, 2, "mail-v2")
    sent = ledger_add(first, 10, variant="A")
    track(sent[:3], TrackingEvent.Kind.OPEN)
    track(sent[:1], TrackingEvent.Kind.CLICK)
    ledger_add(first, 2, status=Send.Status.SKIPPED, skip_reason="no_consent")
    track(ledger_add(second, 5, variant="A")[:2], TrackingEvent.Kind.OPEN)
    ledger_add(second, 1, status=Send.Status.SKIPPED, skip_reason="no_consent")
    ledger_add(second, 1, status=Send.Status.SKIPPED, skip_reason="frequency_cap")
    ledger_add(second, 4, variant="A", status=Send.Status.QUEUED)

    (send,) = flow_report(flow=flow)["sends"]

    assert send["label"] == "mail · Send an email"
    assert [c["slug"] for c in send["campaigns"]] == ["mail-v1", "mail-v2"]
    assert (send["sent"], send["delivered"], send["opens"], send["clicks"]) == (15, 15, 5, 1)
    assert (send["skipped"], send["pending"], send["failed"]) == (4, 4, 0)
    assert send["skips"] == [
        {"reason": "no_consent", "label": "No consent", "n": 3},
        {"reason": "frequency_cap", "label": "Frequency cap reached", "n": 1},
    ]
    assert send["open_rate"] == proportion(5, 15)
    assert send["click_rate"] == proportion(1, 15)


def test_the_report_page_shows_the_split_and_the_totals(ops_client, split_flow):
    enrolled(split_flow, split_flow.version, "control", 200, 20)
    enrolled(split_flow, split_flow.version, "coupon", 200, 40)

    html = ops_client.get("/flows/split/report/").content.decode()

    assert 'data-testid="split-test"' in html
    assert "Coupon or not · Random split" in html
    assert 'data-path="coupon"' in html
    assert "20.0%" in html  # the coupon path's conversion rate


def test_the_report_page_speaks_chinese(ops_client, split_flow):
    enrolled(split_flow, split_flow.version, "control", 10, 1)
    ops_client.cookies["django_language"] = "zh-hans"

    html = ops_client.get("/flows/split/report/").content.decode()

    assert "流程报告" in html
    assert "Coupon or not · 随机分流" in html
    assert "对照组" in html


def test_an_outsider_cannot_read_the_report(client, outsider, split_flow):
    client.force_login(outsider)

    assert client.get("/flows/split/report/").status_code == 403
