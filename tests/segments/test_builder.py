"""The segment builder pages: create and edit a segment, preview a rule, access by role."""

import json

import pytest
from django.utils.html import escape

from campaigns.models import Campaign
from journeys.services import stages_ensure_defaults
from predictions.models import Cluster
from segments.models import Segment
from segments.rules import RuleError, parse_rule
from segments.selectors import segment_rule
from segments.services import segment_evaluate
from tests.factories import ProfileFactory, ProfileTagFactory, PurchaseFactory, TagFactory

pytestmark = pytest.mark.django_db

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
BAD_OP = {
    "all": [{"attr": "city", "op": "eq", "value": "上海"}, {"any": [{"tag": "x", "op": "is"}]}]
}


def rule_error(rule, **kwargs) -> str:
    """Return the refusal of ``rule`` as a page shows it (in the page's language)."""
    with pytest.raises(RuleError) as refused:
        parse_rule(rule, **kwargs)
    return escape(str(refused.value))


def form_data(**changes) -> dict:
    data = {
        "name": "上海活跃",
        "slug": "sh-active",
        "description": "",
        "kind": "dynamic",
        "refresh_minutes": "60",
        "rule": json.dumps(TWO_LEVELS, ensure_ascii=False),
    }
    return {**data, **changes}


@pytest.fixture
def people(db):
    tag = TagFactory(slug="coupon-lover")
    tagged = ProfileFactory(external_id="sh-tagged", city="上海")
    ProfileTagFactory(profile=tagged, tag=tag)
    PurchaseFactory(profile=ProfileFactory(external_id="sh-buyer", city="上海"))
    ProfileFactory(external_id="sh-idle", city="上海")
    PurchaseFactory(profile=ProfileFactory(external_id="bj-buyer", city="北京"))


def builder_choices(response) -> dict:
    page = response.content.decode()
    start = page.index('<script id="rule-builder-choices" type="application/json">')
    body = page[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


def test_the_new_segment_page_offers_the_builder_choices(ops_client, people):
    Segment.objects.create(
        name="其他", slug="others", rule={"all": [{"attr": "city", "op": "is_set"}]}
    )

    response = ops_client.get("/segments/new/")

    assert response.status_code == 200
    choices = builder_choices(response)
    city = next(a for a in choices["attributes"] if a["name"] == "city")
    assert city["type"] == "text" and "startswith" in city["ops"]
    signup = next(a for a in choices["attributes"] if a["name"] == "signup_at")
    assert "within_last_days" in signup["ops"] and "contains" not in signup["ops"]
    assert [t["slug"] for t in choices["tags"]] == ["coupon-lover"]
    assert choices["events"] == ["purchase"]
    assert choices["cities"] == ["上海", "北京"] or set(choices["cities"]) == {"上海", "北京"}
    assert choices["segments"] == ["others"]
    assert 'src="/static/js/rule-builder.js"' in response.content.decode()


def test_the_builder_offers_engagement_with_the_campaigns_and_event_properties_in_chinese(
    ops_client,
):
    Campaign.objects.create(name="春季促销", slug="spring", channel="email")
    Campaign.objects.create(name="autumn", slug="autumn", channel="sms")

    response = ops_client.get("/segments/new/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    message = builder_choices(response)["kinds"]["message"]
    assert message["label"] == "消息互动"
    assert message["messages"] == [
        ["opened", "打开过"],
        ["clicked", "点击过"],
        ["received", "收到过"],
    ]
    assert message["campaigns"] == [["autumn", "autumn"], ["spring", "春季促销"]]  # newest first
    assert message["any_campaign"] == "任意营销活动"
    labels = builder_choices(response)["labels"]
    assert (labels["where"], labels["add_property"]) == ("其中", "+ 属性")


def test_the_builder_names_operators_attributes_events_and_offers_values_in_chinese(ops_client):
    stages_ensure_defaults()
    ProfileFactory(city="上海", region="上海")
    ProfileFactory(city="广州", region="广东")
    PurchaseFactory()
    Cluster.objects.create(slug="loyal-big-spenders", name="忠实高消费")

    response = ops_client.get("/segments/new/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    choices = builder_choices(response)
    city = next(a for a in choices["attributes"] if a["name"] == "city")
    assert city["label"] == "城市"
    assert (choices["op_labels"]["eq"], choices["op_labels"]["not_in"]) == ("等于", "不属于")
    assert choices["aggregate_labels"]["gte"] == "≥"
    assert choices["event_labels"]["purchase"] == "购买"
    assert choices["suggestions"]["city"] == [["上海", "上海"], ["广州", "广州"]]
    assert choices["suggestions"]["region"] == [["上海", "上海"], ["广东", "广东"]]
    assert choices["suggestions"]["cluster"] == [["loyal-big-spenders", "忠实高消费"]]
    assert choices["consent"]["channels"] == [
        ["email", "邮件营销"], ["sms", "短信营销"], ["wechat", "微信营销"],
        ["wecom", "企业微信营销"], ["push", "App 推送营销"],
    ]  # fmt: skip
    stage = choices["kinds"]["stage"]
    assert stage["label"] == "旅程阶段" and stage["ops"] == [["reached", "已到达"]]
    assert ["repurchase", "复购 Repurchase"] in stage["stages"]


def test_a_rule_on_event_properties_and_engagement_saves_and_previews(ops_client, people):
    Campaign.objects.create(name="春季促销", slug="spring", channel="email")
    beauty = ProfileFactory(external_id="beauty-buyer")
    PurchaseFactory(profile=beauty, properties={"category": "beauty"})
    ghost = {"message": "opened", "campaign": "ghost", "within_days": 7}
    rule = {
        "any": [
            {
                "event": "purchase",
                "where": {"category": "beauty"},
                "within_days": 90,
                "count": {"gte": 1},
            },
            {"message": "received", "campaign": "spring", "within_days": 30},
        ]
    }

    preview = ops_client.post("/segments/preview/", {"rule": json.dumps(rule)})
    saved = ops_client.post("/segments/new/", form_data(rule=json.dumps(rule)))
    refused = ops_client.post("/segments/new/", form_data(slug="other", rule=json.dumps(ghost)))

    assert '<strong data-testid="preview-count">1</strong>' in preview.content.decode()
    assert saved.status_code == 302
    assert Segment.objects.get(slug="sh-active").rule == rule
    assert refused.status_code == 400
    assert rule_error(ghost, resolve=segment_rule) in refused.content.decode()


def test_the_list_and_the_segment_page_link_to_new_and_edit(ops_client):
    Segment.objects.create(name="a", slug="a", rule=TWO_LEVELS)

    assert 'href="/segments/new/"' in ops_client.get("/segments/").content.decode()
    assert 'href="/segments/a/edit/"' in ops_client.get("/segments/a/").content.decode()


def test_saving_a_two_level_rule_stores_it_exactly_and_queues_evaluation(
    ops_client, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = ops_client.post("/segments/new/", form_data())

    segment = Segment.objects.get(slug="sh-active")
    assert response["Location"] == "/segments/sh-active/"
    assert segment.rule == TWO_LEVELS
    # the evaluation was queued (eager in tests); its membership change then tells the apps above
    assert callbacks
    assert (segment.status, segment.size) == (Segment.Status.READY, 2)
    assert segment.runs.count() == 1


def test_an_invalid_rule_is_refused_with_its_path_and_nothing_is_stored(ops_client):
    response = ops_client.post("/segments/new/", form_data(rule=json.dumps(BAD_OP)))

    page = response.content.decode()
    assert response.status_code == 400
    assert f'data-testid="rule-error">{rule_error(BAD_OP)}<' in page
    assert rule_error(BAD_OP).startswith("all[1].any[0].op: ")
    assert not Segment.objects.exists()


def test_text_that_is_not_json_is_refused(ops_client):
    response = ops_client.post("/segments/new/", form_data(rule="{all:"))

    assert response.status_code == 400
    assert not Segment.objects.exists()


def test_editing_changes_the_rule_and_requeues_but_keeps_the_slug(
    ops_client, people, django_capture_on_commit_callbacks
):
    segment = Segment.objects.create(name="a", slug="a", rule={"attr": "city", "op": "is_set"})
    rule = {"not": {"attr": "city", "op": "eq", "value": "北京"}}

    page = ops_client.get("/segments/a/edit/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            "/segments/a/edit/", form_data(slug="changed", rule=json.dumps(rule))
        )

    segment.refresh_from_db()
    assert "&quot;is_set&quot;" in page  # the stored rule fills the form
    assert response["Location"] == "/segments/a/"
    assert (segment.slug, segment.rule, segment.name) == ("a", rule, "上海活跃")
    assert segment.size == 3


def test_a_rule_that_refers_back_to_its_segment_is_refused(ops_client):
    Segment.objects.create(name="a", slug="a", rule={"attr": "city", "op": "is_set"})

    response = ops_client.post(
        "/segments/a/edit/", form_data(rule=json.dumps({"any": [{"segment": "a"}]}))
    )

    assert response.status_code == 400
    error = rule_error({"any": [{"segment": "a"}]}, resolve=lambda slug: {}, slug="a")
    assert error.startswith("any[0].segment: ")
    assert error in response.content.decode()
    assert Segment.objects.get(slug="a").rule == {"attr": "city", "op": "is_set"}


def test_a_static_segment_saves_without_a_rule(ops_client):
    response = ops_client.post("/segments/new/", form_data(kind="static", rule=""))

    assert response.status_code == 302
    assert Segment.objects.get(slug="sh-active").rule == {}


def test_the_preview_shows_the_count_and_a_linked_sample(ops_client, people):
    response = ops_client.post("/segments/preview/", {"rule": json.dumps(TWO_LEVELS)})

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="preview-count">2<' in page
    assert 'href="/profiles/sh-tagged/"' in page
    assert 'href="/profiles/sh-buyer/"' in page
    assert "sh-idle" not in page
    assert not Segment.objects.exists()


def test_the_preview_shows_the_rule_error_with_its_path(ops_client):
    response = ops_client.post("/segments/preview/", {"rule": json.dumps(BAD_OP)})

    page = response.content.decode()
    assert 'data-testid="preview-error"' in page
    assert f'data-testid="preview-error">{rule_error(BAD_OP)}<' in page


def test_the_segment_page_lists_the_first_members(ops_client, people):
    segment = Segment.objects.create(name="a", slug="a", rule=TWO_LEVELS)
    segment_evaluate(segment_id=segment.pk)

    page = ops_client.get("/segments/a/").content.decode()

    assert 'href="/profiles/sh-tagged/"' in page
    assert 'href="/profiles/sh-buyer/"' in page
    assert "sh-idle" not in page


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/segments/new/"),
        ("post", "/segments/new/"),
        ("get", "/segments/a/edit/"),
        ("post", "/segments/a/edit/"),
        ("post", "/segments/preview/"),
    ],
)
def test_only_ops_can_build_segments(client, campaign_manager, method, url):
    Segment.objects.create(name="a", slug="a", rule=TWO_LEVELS)
    client.force_login(campaign_manager)

    response = getattr(client, method)(url, form_data(name="x"))

    assert response.status_code == 403
    assert Segment.objects.get().name == "a"
