"""The journey pages: stages (list, edit, refresh), the funnel with filters, the 360° section."""

import datetime
import json

import pytest

from core.models import Job, JobStatus
from journeys.models import JourneyStage
from journeys.services import stages_refresh
from profiles.models import Profile
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2024, 6, 30, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def staged(journey):
    EventFactory(profile=ProfileFactory(external_id="v", channel="wechat"), occurred_at=NOW)
    PurchaseFactory(profile=ProfileFactory(external_id="b", channel="organic"), occurred_at=NOW)
    stages_refresh(now=NOW + datetime.timedelta(seconds=1))
    return journey


def test_the_stages_page_lists_the_stages_with_their_counts(ops_client, staged):
    response = ops_client.get("/journeys/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Visit") < html.index("Buy again")
    assert 'data-testid="reached-visit">2<' in html
    assert 'data-testid="current-buy">1<' in html
    assert 'data-testid="refresh-stages"' in html


def test_people_without_the_ops_role_see_no_edit_controls(client, campaign_manager, staged):
    client.force_login(campaign_manager)

    html = client.get("/journeys/").content.decode()

    assert 'data-testid="refresh-stages"' not in html
    assert client.get("/journeys/buy/edit/").status_code == 403
    assert client.post("/journeys/refresh/").status_code == 403


def test_ops_staff_edit_a_stage_and_an_invalid_rule_names_the_node(ops_client, staged):
    bad = ops_client.post(
        "/journeys/buy/edit/",
        {"name": "Buy", "slug": "buy", "position": 20, "rule": '{"all": [{"tag": 1}]}'},
    )
    good_rule = {"event": "purchase", "within_days": 365, "count": {"gte": 1}}
    good = ops_client.post(
        "/journeys/buy/edit/",
        {"name": "成交", "position": 5, "active": "on", "rule": json.dumps(good_rule)},
    )

    assert bad.status_code == 400
    assert 'data-testid="rule-error">all[0]: Missing “op”.' in bad.content.decode()
    assert good.status_code == 302
    stage = JourneyStage.objects.get(slug="buy")
    assert (stage.name, stage.position, stage.rule) == ("成交", 5, good_rule)


def test_a_stage_rule_with_a_stage_condition_is_refused(ops_client, staged):
    rule = {"stage": "visit", "op": "reached"}

    response = ops_client.post(
        "/journeys/buy/edit/",
        {"name": "Buy", "position": 20, "active": "on", "rule": json.dumps(rule)},
    )

    assert response.status_code == 400
    assert "cannot use stage conditions" in response.content.decode()


def test_ops_staff_add_a_stage(ops_client, staged):
    rule = {"event": "referral", "within_days": 365, "count": {"gte": 1}}

    response = ops_client.post(
        "/journeys/new/",
        {
            "name": "Refer",
            "slug": "refer",
            "position": 40,
            "active": "on",
            "rule": json.dumps(rule),
        },
    )

    assert response.status_code == 302
    assert JourneyStage.objects.get(slug="refer").position == 40


def test_the_refresh_button_runs_a_job_that_moves_profiles(
    ops_client, staged, django_capture_on_commit_callbacks
):
    PurchaseFactory(profile=Profile.objects.get(external_id="v"))

    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post("/journeys/refresh/")

    job = Job.objects.get(kind="journeys.stages_refresh")
    assert response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.result["by_stage"]["buy"] == 1
    assert Profile.objects.get(external_id="v").stage == "buy"


def test_the_funnel_page_draws_three_charts_and_takes_filters(ops_client, staged):
    response = ops_client.get("/journeys/funnel/", {"channel": "wechat"})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("plotly-graph-div") == 2  # the funnel and the cohorts …
    assert html.count('class="chart-empty"') == 1  # … no stage entered in the last 26 weeks
    assert "Nothing to show yet." in html
    assert 'data-testid="funnel-profiles">1<' in html


def test_the_funnel_page_reports_bad_filters(ops_client, staged):
    response = ops_client.get(
        "/journeys/funnel/", {"signup_from": "2024-05-02", "signup_to": "2024-05-01"}
    )

    assert response.status_code == 200
    assert "The first sign-up day is after the last one." in response.content.decode()
    assert 'data-testid="funnel-profiles">2<' in response.content.decode()  # unfiltered


def test_the_profile_page_shows_the_stage_and_its_history(ops_client, staged):
    later = NOW + datetime.timedelta(days=1)
    PurchaseFactory(profile=Profile.objects.get(external_id="v"), occurred_at=later)
    stages_refresh(now=later)

    html = ops_client.get("/profiles/v/").content.decode()

    assert 'data-testid="journey-stage"' in html
    assert 'data-testid="current-stage">Buy<' in html
    assert html.count("<tr><td>") >= 2  # two moves: → Visit, Visit → Buy
    assert "Visit</td><td>Buy" in html


def test_a_profile_without_a_stage_says_so(ops_client, journey):
    ProfileFactory(external_id="new")

    html = ops_client.get("/profiles/new/").content.decode()

    assert "No journey stage yet." in html
