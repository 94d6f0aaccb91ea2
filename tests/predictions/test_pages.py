"""The prediction pages: the model page of a refresh, clusters with portraits, the rules."""

import pytest
from django.utils import translation

from core.models import Job
from predictions.models import Cluster, PredictionRun
from tests.factories import ProfileFactory
from tests.predictions import builders

pytestmark = pytest.mark.django_db

PAGES = ["/predictions/", "/predictions/clusters/", "/predictions/rules/"]


@pytest.fixture
def live():
    run = builders.run(status=PredictionRun.Status.LIVE)
    builders.cluster(run=run)
    builders.association(run=run, antecedent=["serum"], consequent="toner", lift=3.5)
    builders.association(run=run, antecedent=["yoga-mat", "earbuds"], consequent="socks", lift=1.2)
    return run


def test_the_model_page_shows_samples_auc_of_both_models_and_the_baseline(ops_client, live):
    response = ops_client.get("/predictions/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="size-held-out">400<' in html
    assert 'data-testid="auc-bgnbd">0.780<' in html
    assert 'data-testid="auc-supervised">0.830<' in html
    assert 'data-testid="auc-recency">0.700<' in html
    assert "Recency only (baseline)" in html
    assert html.count("plotly-graph-div") == 2  # calibration and importances
    assert "Days since the last purchase" in html  # importance label, not recency_days
    assert "wishlist\\u201d events in the last 90 days" in html  # plotly's JSON escapes “”
    assert "wishlist_90d" not in html
    assert 'data-testid="refresh-predictions"' in html


def test_the_model_page_is_in_chinese_without_raw_enums(ops_client, live):
    with translation.override("zh-hans"):
        ops_client.cookies["django_language"] = "zh-hans"
        html = ops_client.get("/predictions/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "训练截止" in html
    assert "仅按最近购买（基线）" in html
    assert "相当于随机猜测" in html
    for raw in (">live<", ">bgnbd<", ">supervised<", ">recency<", "Held-out AUC"):
        assert raw not in html


def test_a_kept_refresh_says_the_previous_scores_stay_live(ops_client, live):
    kept = builders.run(
        status=PredictionRun.Status.KEPT,
        message="AUC below the recency baseline",
        supervised_auc=0.6,
        bgnbd_auc=0.62,
    )

    html = ops_client.get(f"/predictions/runs/{kept.pk}/").content.decode()

    assert 'data-testid="run-kept"' in html
    assert "previous scores stay in use: AUC below the recency baseline" in html
    assert f'href="/predictions/runs/{live.pk}/"' in html  # the live one, linked


def test_a_failed_refresh_explains_that_too_few_customers_bought(ops_client):
    builders.run(status=PredictionRun.Status.FAILED, message="Only 12 customers bought twice.")

    html = ops_client.get("/predictions/").content.decode()

    assert 'data-testid="run-failed"' in html
    assert "Only 12 customers bought twice." in html
    assert "auc-table" not in html


def test_without_any_refresh_the_page_says_so_and_offers_the_button(ops_client):
    html = ops_client.get("/predictions/").content.decode()

    assert 'data-testid="no-run"' in html
    assert 'data-testid="refresh-predictions"' in html


def test_the_history_lists_past_refreshes_with_an_auc_chart(ops_client, live):
    old = builders.run(status=PredictionRun.Status.REPLACED, days_ago=7)

    html = ops_client.get("/predictions/").content.decode()

    assert f'href="/predictions/runs/{old.pk}/"' in html
    assert 'data-chart="auc-history"' in html
    assert "Replaced by a later refresh" in html


def test_the_refresh_button_creates_a_job_and_opens_its_page(ops_client):
    response = ops_client.post("/predictions/refresh/")

    job = Job.objects.get(kind="predictions.refresh")
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.created_by.username == "olivia-ops"


def test_the_refresh_button_goes_to_the_running_job_instead_of_starting_another(ops_client):
    first = ops_client.post("/predictions/refresh/")
    job = Job.objects.get(kind="predictions.refresh")
    builders.run(status=PredictionRun.Status.RUNNING).__class__.objects.filter(
        status="running"
    ).update(job=job)

    second = ops_client.post("/predictions/refresh/")

    assert first["Location"] == second["Location"] == f"/jobs/{job.pk}/"
    assert Job.objects.filter(kind="predictions.refresh").count() == 1


def test_the_clusters_page_shows_each_cluster_with_size_share_and_top_traits(ops_client, live):
    html = ops_client.get("/predictions/clusters/").content.decode()

    assert 'data-testid="cluster-loyal-big-spenders"' in html
    assert "Loyal big spenders" in html
    assert "25%" in html
    assert "Total spend: index 400" in html
    assert "coupon-lover · TGI 300" in html


def test_the_portrait_lists_features_by_how_far_they_are_from_everyone(ops_client, live):
    html = ops_client.get("/predictions/clusters/loyal-big-spenders/").content.decode()

    table = html[html.index('data-testid="cluster-features"') :]
    assert 'data-testid="cluster-size">300<' in html
    assert table.index("Total spend") < html.index("Days since the last purchase")
    assert table.index("Days since the last purchase") < table.index("“add_to_cart” events")
    assert 'data-chart="portrait"' in html
    assert "/segments/new/?rule=" in html


def test_ops_staff_rename_a_cluster_and_refreshes_keep_the_name(ops_client, live):
    response = ops_client.post(
        "/predictions/clusters/loyal-big-spenders/", {"name": " 忠实大客户 "}
    )

    cluster = Cluster.objects.get(slug="loyal-big-spenders")
    assert response.status_code == 302
    assert (cluster.name, cluster.named_by_people) == ("忠实大客户", True)


def test_an_empty_name_is_refused(ops_client, live):
    response = ops_client.post("/predictions/clusters/loyal-big-spenders/", {"name": "   "})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Cluster.objects.get(slug="loyal-big-spenders").name == "Loyal big spenders"


def test_the_rules_page_filters_by_product_and_minimums(ops_client, live):
    by_product = ops_client.get("/predictions/rules/", {"product": "earb"}).content.decode()
    by_lift = ops_client.get("/predictions/rules/", {"min_lift": "2"}).content.decode()
    bad = ops_client.get("/predictions/rules/", {"min_confidence": "7"}).content.decode()

    assert "yoga-mat + earbuds" in by_product and "serum" not in by_product
    assert "serum" in by_lift and "earbuds" not in by_lift
    assert "Ensure this value is less than or equal to 1" in bad
    assert "(2 rules)" in bad  # an invalid filter is shown, not applied


def test_the_rules_page_pages_through_many_rules(ops_client, live):
    for i in range(60):
        builders.association(run=live, antecedent=[f"p{i}"], consequent="q", lift=1.0)

    first = ops_client.get("/predictions/rules/", {"min_lift": "0.5"}).content.decode()
    second = ops_client.get("/predictions/rules/", {"min_lift": "0.5", "page": 2}).content.decode()

    assert "Page 1 of 2 (62 rules)" in first
    assert "min_lift=0.5&amp;page=2" in first
    assert "Page 2 of 2" in second


def test_pages_without_a_refresh_say_what_will_fill_them(ops_client):
    clusters = ops_client.get("/predictions/clusters/").content.decode()
    rules = ops_client.get("/predictions/rules/").content.decode()

    assert 'data-testid="no-clusters"' in clusters
    assert 'data-testid="no-rules"' in rules


@pytest.mark.parametrize("persona", ["campaign_manager", "consent_admin"])
def test_other_roles_read_the_pages_but_cannot_refresh_or_rename(client, persona, live, request):
    client.force_login(request.getfixturevalue(persona))

    pages = [client.get(path) for path in [*PAGES, "/predictions/clusters/loyal-big-spenders/"]]
    rename = client.post("/predictions/clusters/loyal-big-spenders/", {"name": "x"})

    assert [page.status_code for page in pages] == [200] * 4
    assert 'data-testid="refresh-predictions"' not in pages[0].content.decode()
    assert 'data-testid="cluster-rename"' not in pages[3].content.decode()
    assert client.post("/predictions/refresh/").status_code == 403
    assert rename.status_code == 403
    assert Cluster.objects.get(slug="loyal-big-spenders").name == "Loyal big spenders"


def test_outsiders_get_403_everywhere(client, outsider, live):
    client.force_login(outsider)

    assert [client.get(path).status_code for path in PAGES] == [403] * 3


def test_the_top_bar_highlights_predictions(ops_client, live):
    html = ops_client.get("/predictions/rules/").content.decode()

    assert 'href="/predictions/" aria-current="page">Predictions<' in html


def test_an_unknown_refresh_or_cluster_is_404(ops_client):
    ProfileFactory()

    assert ops_client.get("/predictions/runs/999/").status_code == 404
    assert ops_client.get("/predictions/clusters/nope/").status_code == 404
