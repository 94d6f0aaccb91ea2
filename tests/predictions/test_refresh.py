"""A whole refresh on the demo shop's data: who is scored, in which ranges, and what is kept."""

import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from predictions import services
from predictions.models import AssociationRule, Cluster, Prediction, PredictionRun
from predictions.purchase import PurchaseEvaluation
from profiles.models import ConsentPurpose, Event, Profile
from profiles.services.consent import ConsentEntry, consent_record, profiling_refused_ids
from tests.factories import ProfileFactory, PurchaseFactory
from tools.demo import demo_seed

pytestmark = pytest.mark.django_db

ANCHOR = datetime.date(2026, 6, 30)


def _now() -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(ANCHOR, datetime.time()))


@pytest.fixture
def shop(db, settings):
    """The demo shop: 1,000 profiles and 25,000 events up to ANCHOR (4 clusters: faster)."""
    settings.PREDICTIONS_CLUSTERS = 4
    demo_seed(profiles=1000, events=25000, seed=7, anchor=ANCHOR)


def _withdraw_profiling(profile: Profile) -> None:
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose=ConsentPurpose.PROFILING,
            status="withdrawn",
            source="admin",
            reason="asked by phone",
        )
    )


def test_a_refresh_scores_every_purchaser_who_allows_profiling(shop, settings):
    refused = set(profiling_refused_ids())
    buyers = set(
        Event.objects.filter(name="purchase", occurred_at__lte=_now()).values_list(
            "profile_id", flat=True
        )
    )
    idle = ProfileFactory()
    settings.PREDICTIONS_CLUSTERS = 0  # chosen by silhouette
    out = io.StringIO()

    call_command("refresh_predictions", as_of=ANCHOR.isoformat(), stdout=out, stderr=io.StringIO())

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    run = PredictionRun.objects.get(pk=figures["run"])
    assert run.status == PredictionRun.Status.LIVE, run.message
    assert set(figures["auc"]) == {"bgnbd", "supervised", "recency"}
    assert [phase["name"] for phase in figures["phases"]] == list(services.Phases.NAMES)
    scored = set(Prediction.objects.values_list("profile_id", flat=True))
    assert refused & buyers  # the demo has buyers who withdrew profiling …
    assert scored == buyers - refused  # … and they get no scores, nor does the idle profile
    assert idle.pk not in scored and figures["scored"] == len(scored)
    assert figures["sizes"]["refused"] == len(refused & buyers)


def test_scores_are_in_their_ranges_and_recommend_what_was_not_bought(shop):
    services.predictions_refresh(now=_now())

    for p in Prediction.objects.all():
        assert 0 <= p.p_alive <= 1 and 0 <= p.repurchase_probability_90d <= 1
        assert p.churn_risk == pytest.approx(1 - p.repurchase_probability_90d, abs=1e-5)
        assert p.expected_purchases_90d >= 0 and p.clv_365d >= 0
        assert p.cluster and len(set(p.recommendations)) == len(p.recommendations) <= 5
        bought = set(
            Event.objects.filter(profile_id=p.profile_id, name="purchase").values_list(
                "properties__product", flat=True
            )
        )
        assert not bought & set(p.recommendations)
    assert Prediction.objects.exclude(recommendations=[]).count() > 0
    clusters = Cluster.objects.filter(active=True)
    assert 3 <= clusters.count() <= 8
    sizes = dict(Prediction.objects.values_list("cluster").annotate(n=Count("pk")))
    assert {c.slug: c.size for c in clusters} == sizes
    assert all(c.portrait["features"] and "tgi" in c.portrait["tags"][0] for c in clusters)
    rules = AssociationRule.objects.all()
    assert rules.count() == PredictionRun.objects.get().report["rules"]["count"] > 0
    assert all(r.lift > 0 and 0 < r.confidence <= 1 for r in rules)


def test_a_second_refresh_keeps_cluster_slugs_and_names_and_clears_withdrawn_profiling(shop):
    services.predictions_refresh(now=_now())
    first = dict(Cluster.objects.values_list("slug", "size"))
    named = Cluster.objects.first()
    named.name, named.named_by_people = "我们的核心客户", True
    named.save()

    withdrawn = Prediction.objects.select_related("profile").first().profile
    _withdraw_profiling(withdrawn)  # a small change of the data: one customer fewer

    services.predictions_refresh(now=_now())

    assert set(Cluster.objects.filter(active=True).values_list("slug", flat=True)) == set(first)
    assert Cluster.objects.get(pk=named.pk).name == "我们的核心客户"
    assert not Prediction.objects.filter(profile=withdrawn).exists()


def test_too_few_purchasers_fail_with_a_message_and_keep_the_scores(db):
    for _ in range(30):
        PurchaseFactory(occurred_at=_now() - datetime.timedelta(days=200))
    kept = Prediction.objects.count()

    run = services.predictions_refresh(now=_now())

    assert run.status == PredictionRun.Status.FAILED
    assert "Too few purchasers" in run.message and "200" in run.message
    assert Prediction.objects.count() == kept


def test_a_model_below_the_recency_baseline_keeps_the_previous_scores(shop, monkeypatch):
    live = services.predictions_refresh(now=_now())
    before = dict(Prediction.objects.values_list("profile_id", "churn_risk"))
    # As if the chosen model's held-out AUC had come out below recency alone's.
    monkeypatch.setattr(PurchaseEvaluation, "beats_baseline", property(lambda self: False))

    run = services.predictions_refresh(now=_now() + datetime.timedelta(days=7))

    assert run.status == PredictionRun.Status.KEPT
    assert "recency alone" in run.message and "previous scores stay live" in run.message
    assert dict(Prediction.objects.values_list("profile_id", "churn_risk")) == before
    live.refresh_from_db()
    assert live.status == PredictionRun.Status.LIVE


def test_evaluate_predictions_backtests_a_past_cutoff(shop):
    out = io.StringIO()
    cutoff = (ANCHOR - datetime.timedelta(days=120)).isoformat()

    call_command("evaluate_predictions", cutoff=cutoff, stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert figures["kind"] == "backtest" and figures["status"] == "done"
    assert figures["auc"]["bgnbd"] > 0.5
    assert not Prediction.objects.exists()  # a backtest never writes scores


def test_evaluate_predictions_refuses_a_cutoff_whose_90_days_have_not_passed(db):
    recent = (timezone.localdate() - datetime.timedelta(days=10)).isoformat()

    with pytest.raises(CommandError, match="90 days after the cut-off"):
        call_command("evaluate_predictions", cutoff=recent, stdout=io.StringIO())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("evaluate_predictions", cutoff="yesterday", stdout=io.StringIO())


def test_an_unexpected_error_fails_the_run_and_is_raised(shop, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "purchase_evaluate", broken)

    with pytest.raises(RuntimeError):
        services.predictions_refresh(now=_now())

    run = PredictionRun.objects.get()
    assert run.status == PredictionRun.Status.FAILED and run.finished_at
    assert "the database went away" in run.message


def test_the_nightly_task_queues_a_refresh_job_with_progress(db, settings):
    from core.models import Job
    from predictions.tasks import predictions_refresh_task

    job_id = predictions_refresh_task()

    job = Job.objects.get(pk=job_id)
    assert job.kind == services.REFRESH_JOB_KIND and job.total == len(services.Phases.NAMES)
    assert "refresh-predictions" in settings.CELERY_BEAT_SCHEDULE
    assert (
        settings.CELERY_BEAT_SCHEDULE["refresh-predictions"]["task"]
        == "predictions.tasks.predictions_refresh_task"
    )


def test_the_job_handler_runs_a_refresh_and_reports_each_phase(db):
    from core.jobs import job_handler

    reported = []

    figures = job_handler(services.REFRESH_JOB_KIND)(
        job=None, report=lambda done, total, message="", force=False: reported.append(done)
    )

    assert figures["status"] == "failed"  # no purchaser at all: too few to fit
    assert "Too few purchasers" in figures["message"]
    assert reported[0] == 0
