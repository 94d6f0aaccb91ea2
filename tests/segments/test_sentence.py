"""A rule as a sentence, in English and Simplified Chinese, for every condition kind."""

import pytest
from django.utils import translation

from campaigns.models import Campaign
from journeys.services import stages_ensure_defaults
from segments.models import Segment
from segments.sentence import rule_sentence, rule_sentence_html
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def names(db):
    """The names the sentence reads in place of slugs."""
    stages_ensure_defaults()
    TagFactory(slug="coupon-lover", label="优惠券爱好者")
    Campaign.objects.create(name="春季促销", slug="spring-sale", channel="email")
    Segment.objects.create(name="投诉者", slug="complainers", kind=Segment.Kind.STATIC, rule={})


CASES = [
    (
        {"attr": "city", "op": "eq", "value": "上海"},
        "city equals 上海",
        "城市 等于 上海",
    ),
    (
        {"attr": "city", "op": "in", "value": ["上海", "北京"]},
        "city is one of 上海, 北京",
        "城市 属于 上海、北京",
    ),
    (
        {"attr": "gender", "op": "ne", "value": "female"},
        "gender does not equal Female",
        "性别 不等于 女",
    ),
    (
        {"attr": "monetary", "op": "between", "value": [100, 500.5]},
        "monetary is between 100 and 500.5",
        "消费金额 介于 100 和 500.5 之间",
    ),
    ({"attr": "email", "op": "is_set"}, "email is set", "邮箱 已填写"),
    (
        {"attr": "signup_at", "op": "within_last_days", "value": 365},
        "signed up at is within the last 365 days",
        "注册时间 在最近 365 天内",
    ),
    (
        {"attr": "last_seen_at", "op": "more_than_days_ago", "value": 30},
        "last seen at is more than 30 days ago",
        "最近活跃 在 30 天以前",
    ),
    (
        {"attr": "traits.membership", "op": "eq", "value": "gold"},
        "trait “membership” equals gold",
        "自定义属性“membership” 等于 gold",
    ),
    ({"tag": "coupon-lover", "op": "has"}, "has the tag 优惠券爱好者", "带有标签 优惠券爱好者"),
    ({"tag": "gone", "op": "has_not"}, "does not have the tag gone", "不带有标签 gone"),
    (
        {"event": "purchase", "within_days": 90, "count": {"gte": 2}},
        "purchase count in the last 90 days ≥ 2",
        "最近 90 天 购买 次数 ≥ 2",
    ),
    (
        {"event": "purchase", "within_days": 365, "sum": "amount", "value": {"gt": 500}},
        "purchase amount in the last 365 days > 500",
        "最近 365 天 购买 金额合计 > 500",
    ),
    (
        {"event": "purchase", "where": {"category": "beauty"}, "within_days": 90,
         "count": {"between": [1, 3]}},
        "purchase with category = beauty count in the last 90 days between 1 and 3",
        "最近 90 天 购买（category = beauty） 次数 介于 1 和 3 之间",
    ),
    (
        {"message": "opened", "campaign": "spring-sale", "within_days": 30},
        "opened a message of the campaign 春季促销 in the last 30 days",
        "最近 30 天 打开过 营销活动 春季促销 的消息",
    ),
    (
        {"message": "clicked", "within_days": 7},
        "clicked a message of any campaign in the last 7 days",
        "最近 7 天 点击过 任意营销活动 的消息",
    ),
    ({"segment": "complainers"}, "in the segment 投诉者", "属于用户细分 投诉者"),
    ({"consent": "sms", "op": "granted"}, "has granted SMS marketing", "已同意 短信营销"),
    ({"consent": "wechat", "op": "granted"}, "has granted WeChat marketing", "已同意 微信营销"),
    (
        {"stage": "repurchase", "op": "reached"},
        "has reached the journey stage 复购 Repurchase",
        "已到达旅程阶段 复购 Repurchase",
    ),
    (
        {"all": [
            {"attr": "city", "op": "eq", "value": "上海"},
            {"any": [{"tag": "coupon-lover", "op": "has"}, {"not": {"segment": "complainers"}}]},
        ]},
        "city equals 上海 and (has the tag 优惠券爱好者 or not in the segment 投诉者)",
        "城市 等于 上海 且 (带有标签 优惠券爱好者 或 非 属于用户细分 投诉者)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "english", "chinese"), CASES)
def test_each_kind_of_condition_reads_as_a_sentence_in_both_languages(
    names, rule, english, chinese
):
    with translation.override("en"):
        assert rule_sentence(rule) == english
    with translation.override("zh-hans"):
        assert rule_sentence(rule) == chinese


def test_the_briefs_example_reads_as_written_in_chinese(names):
    rule = {
        "all": [
            {"attr": "city", "op": "eq", "value": "上海"},
            {"event": "purchase", "within_days": 90, "count": {"gte": 2}},
        ]
    }

    with translation.override("zh-hans"):
        assert rule_sentence(rule) == "城市 等于 上海 且 最近 90 天 购买 次数 ≥ 2"


def test_a_node_it_cannot_read_is_shown_as_json_and_nothing_fails():
    with translation.override("en"):
        assert rule_sentence({"all": [{"bogus": 1}, {"attr": "city", "op": "zz", "value": 1}]}) == (
            'a condition shown as is: {"bogus": 1} and '
            'a condition shown as is: {"attr": "city", "op": "zz", "value": 1}'
        )
        assert rule_sentence({}) == "no rule"
        assert rule_sentence({"event": "x", "within_days": "ninety", "count": {}}).startswith(
            "a condition shown as is"
        )


def test_the_html_sentence_keeps_raw_names_on_hover_and_escapes_values():
    rule = {"all": [
        {"attr": "value_tier", "op": "eq", "value": "high"},
        {"attr": "name", "op": "eq", "value": "<script>x</script>"},
    ]}  # fmt: skip

    with translation.override("zh-hans"):
        html = rule_sentence_html(rule)

    assert '<span class="rule-term" title="value_tier">价值分层</span>' in html
    assert '<span class="rule-term" title="eq">等于</span>' in html
    assert '<span class="rule-term" title="high">高价值</span>' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
