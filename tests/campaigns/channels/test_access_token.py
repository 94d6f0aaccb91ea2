"""Access tokens: one per account for all workers, refreshed before expiry, renewed if refused."""

import threading
import time

import pytest
import time_machine

from campaigns.channels.access_token import AccessTokens, TokenError, token_lock
from campaigns.channels.wechat import WechatMessage, WechatTransport


def hello(openid="o-ada") -> WechatMessage:
    return WechatMessage(touser=openid, template_id="TPL-1", data={"name": "Ada"})


def no_pace():
    pass


def test_two_transports_share_one_token_through_the_cache(weixin, shared_cache):
    first, second = WechatTransport(), WechatTransport()

    first.open()
    second.open()
    outcomes = first.send([hello()], no_pace) + second.send([hello("o-bob")], no_pace)

    assert [o.error for o in outcomes] == ["", ""]
    assert weixin.token_requests == ["/cgi-bin/token"]
    first.close()
    second.close()


def test_concurrent_workers_fetch_the_token_once(shared_cache):
    fetched = []

    def fetch():
        fetched.append(1)
        time.sleep(0.3)
        return "the-token", 7200

    answers = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(AccessTokens("acct", fetch, platform="X").get())
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fetched) == 1
    assert answers == ["the-token"] * 6


def test_the_token_is_refreshed_before_it_expires(weixin, settings):
    settings.WEIXIN_TOKEN_MARGIN = 300
    transport = WechatTransport()
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        transport.open()
        transport.send([hello()], no_pace)
        clock.shift(7200 - 301)
        transport.send([hello()], no_pace)
        assert len(weixin.token_requests) == 1

        clock.shift(2)  # inside the margin: 299 s before expiry
        [outcome] = transport.send([hello()], no_pace)

    assert outcome.error == ""
    assert len(weixin.token_requests) == 2
    transport.close()


def test_while_one_worker_refreshes_the_others_keep_the_current_token(settings, shared_cache):
    settings.WEIXIN_TOKEN_MARGIN = 300
    tokens = iter(["first", "second"])
    account = AccessTokens("acct", lambda: (next(tokens), 7200), platform="X")
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        assert account.get() == "first"
        clock.shift(7000)
        other = token_lock(account.lock_key)
        assert other.acquire()  # another worker is refreshing

        assert account.get() == "first"

        other.release()
        assert account.get() == "second"


def test_a_worker_without_a_token_waits_for_the_one_fetching_it(shared_cache):
    def fetch():
        raise AssertionError("only the worker holding the lock fetches")

    def sleep(seconds):  # the other worker caches its token meanwhile
        other = AccessTokens("acct", lambda: ("theirs", 7200), platform="X")
        other._refresh(None)

    account = AccessTokens("acct", fetch, platform="X", sleep=sleep)
    other = token_lock(account.lock_key)
    assert other.acquire()

    assert account.get() == "theirs"
    other.release()


def test_a_worker_gives_up_waiting_with_an_error_to_retry(shared_cache):
    clock = [1_000.0]
    account = AccessTokens(
        "acct",
        lambda: ("never", 7200),
        platform="WeChat",
        clock=lambda: clock[0],
        sleep=lambda seconds: clock.__setitem__(0, clock[0] + 5),
    )
    other = token_lock(account.lock_key)
    assert other.acquire()

    with pytest.raises(TokenError) as raised:
        account.get()
    other.release()

    assert "being fetched by another worker" in str(raised.value)


@pytest.mark.parametrize(
    "answer",
    [
        {"errcode": 40001, "errmsg": "invalid credential"},
        {"errcode": 40014, "errmsg": "invalid access_token"},
        {"errcode": 42001, "errmsg": "access_token expired"},
    ],
)
def test_a_refused_token_is_renewed_and_the_message_sent_once_more(weixin, answer):
    transport = WechatTransport()
    transport.open()
    weixin.plan = [answer]

    [outcome] = transport.send([hello()], no_pace)

    assert outcome.error == ""
    assert len(weixin.token_requests) == 2
    assert len(weixin.accepted) == 1
    transport.close()


def test_a_token_revoked_on_the_platform_is_replaced(weixin):
    transport = WechatTransport()
    transport.open()
    weixin.revoke_all()  # e.g. someone fetched a token with the same secret elsewhere

    [outcome] = transport.send([hello()], no_pace)

    assert outcome.error == ""
    assert len(weixin.token_requests) == 2


def test_a_token_refused_twice_is_retried_later_not_failed(weixin):
    transport = WechatTransport()
    transport.open()
    weixin.plan = [{"errcode": 40001, "errmsg": "invalid credential"}] * 2

    [outcome] = transport.send([hello()], no_pace)

    assert "40001" in outcome.error
    assert not outcome.permanent
    assert weixin.accepted == []
    transport.close()


def test_bad_credentials_stop_the_transport_from_opening_with_the_code(weixin, settings):
    settings.WECHAT_APP_SECRET = "wrong"

    with pytest.raises(TokenError) as raised:
        WechatTransport().open()

    assert "40125 invalid appsecret" in str(raised.value)
