"""WeCom customer messages and group bots against the loopback platform."""

import uuid

import pytest

from campaigns.channels.wecom import GroupBot, WecomMessage, WecomTransport, bot_body
from campaigns.delivery.pacing import Pacer
from core.errors import error_text


def no_pace():
    pass


def to(external_userid: str, text="新品上市，欢迎到店", **kwargs) -> WecomMessage:
    return WecomMessage(external_userid=external_userid, text=text, sender="zhangsan", **kwargs)


@pytest.fixture
def transport(weixin):
    transport = WecomTransport()
    transport.open()
    yield transport
    transport.close()


def test_customers_with_the_same_content_go_in_one_call(weixin, transport):
    paced = []
    messages = [to("wm-a"), to("wm-b", text="您好 Bob"), to("wm-c")]

    outcomes = transport.send(messages, lambda: paced.append(1))

    assert [o.error for o in outcomes] == ["", "", ""]
    assert len(paced) == 3
    first, second = weixin.accepted
    assert first["path"] == "/cgi-bin/externalcontact/add_msg_template"
    assert first["json"] == {
        "chat_type": "single",
        "sender": "zhangsan",
        "text": {"content": "新品上市，欢迎到店"},
        "external_userid": ["wm-a", "wm-c"],
    }
    assert second["json"]["external_userid"] == ["wm-b"]
    assert outcomes[0].provider_id == outcomes[2].provider_id != outcomes[1].provider_id
    assert weixin.token_requests == ["/cgi-bin/gettoken"]


def test_a_link_goes_as_a_link_attachment(weixin, transport):
    message = to("wm-a", link_title="春季新品", link_url="https://shop.example.com/spring")

    [outcome] = transport.send([message], no_pace)

    assert outcome.error == ""
    assert weixin.accepted[0]["json"]["attachments"] == [
        {"msgtype": "link", "link": {"title": "春季新品", "url": "https://shop.example.com/spring"}}
    ]


def test_customers_in_the_fail_list_fail_for_good_the_others_are_sent(weixin, transport):
    weixin.not_customers = {"wm-b"}

    taken, refused = transport.send([to("wm-a"), to("wm-b")], no_pace)

    assert taken.error == ""
    assert refused.permanent
    assert not refused.bounce
    assert "not a customer of zhangsan" in error_text(refused.error)


@pytest.mark.parametrize(
    ("answer", "permanent", "bounce"),
    [
        ({"errcode": -1, "errmsg": "system busy"}, False, False),
        ({"errcode": 45009, "errmsg": "api freq out of limit"}, False, False),
        ({"errcode": 84061, "errmsg": "not external contact"}, True, True),
        ({"errcode": 41048, "errmsg": "no available customers"}, True, False),
    ],
)
def test_errcodes_map_to_retry_fail_or_suppress(weixin, transport, answer, permanent, bounce):
    weixin.plan = [answer]

    [outcome] = transport.send([to("wm-a")], no_pace)

    assert error_text(outcome.error) == f"WeCom answered {answer['errcode']} {answer['errmsg']}"
    assert (outcome.permanent, outcome.bounce) == (permanent, bounce)


def test_a_dead_customer_in_a_group_is_found_by_sending_one_by_one(weixin, transport):
    weixin.plan = [
        {"errcode": 84061, "errmsg": "not external contact"},  # the group's call
        {"errcode": 0, "errmsg": "ok", "fail_list": [], "msgid": "m-a"},
        {"errcode": 84061, "errmsg": "not external contact"},
    ]

    alive, dead = transport.send([to("wm-a"), to("wm-b")], no_pace)

    assert (alive.error, alive.provider_id) == ("", "m-a")
    assert dead.bounce


def test_an_expired_token_is_renewed_once(weixin, transport):
    weixin.plan = [{"errcode": 42001, "errmsg": "access_token expired"}]

    [outcome] = transport.send([to("wm-a")], no_pace)

    assert outcome.error == ""
    assert len(weixin.token_requests) == 2


def test_a_5xx_answer_is_retried_later(weixin, transport):
    weixin.plan = [503]

    outcomes = transport.send([to("wm-a"), to("wm-b")], no_pace)

    assert {error_text(o.error) for o in outcomes} == {"WeCom answered HTTP 503"}
    assert not any(o.permanent for o in outcomes)


def test_the_fake_refuses_a_message_without_content(weixin, transport):
    [outcome] = transport.send([to("wm-a", text="")], no_pace)

    assert "44004" in error_text(outcome.error)
    assert outcome.permanent


def test_a_wrong_secret_stops_the_transport_from_opening(weixin, settings):
    settings.WECOM_SECRET = "wrong"

    with pytest.raises(Exception, match="40001 invalid credential"):
        WecomTransport().open()


def test_a_group_bot_posts_each_kind_and_answers_over_its_rate_to_retry(weixin):
    weixin.bot_per_minute = 3
    bot = GroupBot("bot-key")
    bot.pacer = Pacer(channel=f"b{uuid.uuid4().hex[:8]}", rate=0)  # the fake's limit is hit

    sent = [
        bot.send("text", "今日销售 1,204 单"),
        bot.send("markdown", "**GMV** <font color='info'>¥88,000</font>"),
        bot.send("news", [{"title": "周报", "url": "https://bi.example.com/w"}]),
    ]
    over = bot.send("text", "one too many")

    assert [o.error for o in sent] == ["", "", ""]
    assert [a["json"]["msgtype"] for a in weixin.accepted] == ["text", "markdown", "news"]
    assert "45009" in error_text(over.error)
    assert not over.permanent
    bot.close()


def test_a_group_bot_with_a_wrong_key_fails_for_good(weixin):
    bot = GroupBot("not-a-key")
    bot.pacer = Pacer(channel="unused", rate=0)

    outcome = bot.send("text", "hello")

    assert error_text(outcome.error) == "WeCom answered 93000 invalid webhook url"
    assert outcome.permanent


@pytest.mark.parametrize(
    ("kind", "content", "problem"),
    [
        ("image", "x", "sends text, markdown, news"),
        ("text", "", "at most 2048 bytes"),
        ("text", "字" * 700, "at most 2048 bytes"),
        ("news", [], "1 to 8 articles"),
        ("news", [{"title": "no url"}], "1 to 8 articles"),
    ],
)
def test_a_group_bot_message_the_platform_would_refuse_is_refused_here(kind, content, problem):
    with pytest.raises(ValueError, match=problem):
        bot_body(kind, content)


def test_a_group_bot_is_paced_to_twenty_a_minute():
    assert GroupBot("k").pacer.interval_us == 3_000_000
