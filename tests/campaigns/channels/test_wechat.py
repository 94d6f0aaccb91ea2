"""WeChat template messages and subscription notices against the loopback platform."""

import time
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from campaigns.channels.wechat import SUBSCRIBE, WechatMessage, WechatTransport
from campaigns.delivery.pacing import Pacer
from core.errors import error_text

ORDER = WechatMessage(
    touser="o-ada",
    template_id="TPL-ORDER",
    data={"name": "Ada", "amount": "¥12.50"},
    url="https://shop.example.com/o/1",
    miniprogram={"appid": "wx-mini", "pagepath": "pages/order?id=1"},
    reference="send-41",
)


def no_pace():
    pass


@pytest.fixture
def transport(weixin):
    transport = WechatTransport()
    transport.open()
    yield transport
    transport.close()


def test_a_template_message_is_posted_as_documented(weixin, transport):
    [outcome] = transport.send([ORDER], no_pace)

    assert outcome.error == ""
    [taken] = weixin.accepted
    assert taken["path"] == "/cgi-bin/message/template/send"
    assert taken["json"] == {
        "touser": "o-ada",
        "template_id": "TPL-ORDER",
        "data": {"name": {"value": "Ada"}, "amount": {"value": "¥12.50"}},
        "url": "https://shop.example.com/o/1",
        "miniprogram": {"appid": "wx-mini", "pagepath": "pages/order?id=1"},
        "client_msg_id": "send-41",
    }
    assert outcome.provider_id and outcome.provider_id.isdigit()  # the platform's msgid


def test_a_subscription_notice_goes_to_bizsend_with_its_page(weixin, transport):
    notice = WechatMessage(
        touser="o-ada",
        template_id="SUB-1",
        data={"thing1": "新品"},
        url="https://x.cn/p",
        kind=SUBSCRIBE,
    )

    [outcome] = transport.send([notice], no_pace)

    assert outcome.error == ""
    [taken] = weixin.accepted
    assert taken["path"] == "/cgi-bin/message/subscribe/bizsend"
    assert taken["json"]["page"] == "https://x.cn/p"
    assert "url" not in taken["json"]


def test_each_message_gets_its_own_outcome_in_order(weixin, transport):
    weixin.refuse["o-bob"] = {"errcode": 43004, "errmsg": "require subscribe"}
    bob = WechatMessage(touser="o-bob", template_id="TPL-ORDER", data={"name": "Bob"})
    paced = []

    outcomes = transport.send([ORDER, bob, ORDER], lambda: paced.append(1))

    assert [bool(o.error) for o in outcomes] == [False, True, False]
    assert len(paced) == 3  # pace() before each message


@pytest.mark.parametrize(
    ("answer", "permanent", "bounce"),
    [
        ({"errcode": -1, "errmsg": "system error"}, False, False),
        ({"errcode": 45009, "errmsg": "reach max api daily quota limit"}, False, False),
        ({"errcode": 45011, "errmsg": "api minute-quota reach limit"}, False, False),
        ({"errcode": 40003, "errmsg": "invalid openid"}, True, False),
        ({"errcode": 40037, "errmsg": "invalid template_id"}, True, False),
        ({"errcode": 47003, "errmsg": "argument invalid! data.name.value invalid"}, True, False),
        ({"errcode": 43004, "errmsg": "require subscribe"}, True, True),
        ({"errcode": 43101, "errmsg": "user refuse to accept the msg"}, True, True),
    ],
)
def test_errcodes_map_to_retry_fail_or_suppress(weixin, transport, answer, permanent, bounce):
    weixin.plan = [answer]

    [outcome] = transport.send([ORDER], no_pace)

    assert error_text(outcome.error) == f"WeChat answered {answer['errcode']} {answer['errmsg']}"
    assert (outcome.permanent, outcome.bounce) == (permanent, bounce)


def test_the_fake_platform_refuses_what_the_documentation_forbids(weixin, transport):
    no_data = WechatMessage(touser="o-ada", template_id="TPL", data={})
    no_openid = WechatMessage(touser="", template_id="TPL", data={"a": "b"})

    outcomes = transport.send([no_data, no_openid], no_pace)

    assert ["47003" in outcomes[0].error, "40003" in outcomes[1].error] == [True, True]
    assert all(o.permanent and not o.bounce for o in outcomes)


def test_a_5xx_answer_is_retried_later(weixin, transport):
    weixin.plan = [502]

    [outcome] = transport.send([ORDER], no_pace)

    assert error_text(outcome.error) == "WeChat answered HTTP 502"
    assert not outcome.permanent


def test_a_timeout_is_retried_later_and_the_next_message_still_goes(weixin, settings):
    settings.WEIXIN_TIMEOUT = 1
    transport = WechatTransport()
    transport.open()
    weixin.plan = [1.5]

    slow, then = transport.send([ORDER, ORDER], no_pace)

    assert "WeChat could not be reached" in error_text(slow.error)
    assert not slow.permanent
    assert then.error == ""
    transport.close()


def test_an_unreachable_platform_is_retried_later(weixin, transport):
    weixin.stop()
    transport.api.close()  # the kept-alive connection's thread would still answer

    [outcome] = transport.send([ORDER], no_pace)

    assert "WeChat could not be reached" in error_text(outcome.error)
    assert not outcome.permanent


def test_missing_credentials_are_named(settings):
    settings.WECHAT_APP_ID = ""

    with pytest.raises(ImproperlyConfigured, match="WECHAT_APP_ID"):
        WechatTransport().open()


def test_a_bad_base_url_is_named(settings):
    settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET = "a", "b"
    settings.WECHAT_API_URL = "api.weixin.qq.com"

    with pytest.raises(ImproperlyConfigured, match="WECHAT_API_URL"):
        WechatTransport().open()


@pytest.mark.django_db(transaction=True)
def test_sends_keep_to_the_accounts_rate_on_the_shared_pacer(weixin, transport, settings):
    settings.WECHAT_RATE_PER_SECOND = 20
    pacer = Pacer(channel=f"wx{uuid.uuid4().hex[:8]}", rate=settings.WECHAT_RATE_PER_SECOND)
    started = time.monotonic()

    outcomes = transport.send([ORDER] * 11, pacer.wait)

    assert all(not o.error for o in outcomes)
    assert time.monotonic() - started >= 10 / 20 - 0.02  # 11 slots, 1/20 s apart
