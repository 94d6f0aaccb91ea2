"""The fast email builder and the SMTP transport of the delivery service.

``campaigns.mail.MessageBuilder`` writes campaign emails as bytes for Django's SMTP backend;
parsed, they must equal what ``EmailMultiAlternatives`` builds (headers and bodies), including
Chinese subjects and names, long lines and odd line ends. ``smtp_sendmail`` must speak as
``smtplib.SMTP.sendmail`` does, with and without PIPELINING. Delivery through a real SMTP server
on loopback (``picky_server``, with and without PIPELINING): each message once, bounces and
deferrals recorded, a lost connection reopened, one connection for all the batches.
"""

import email.policy
import smtplib
import threading
from email.parser import BytesParser

import pytest
import time_machine
from aiosmtpd.smtp import SMTP as AioSMTP
from asgiref.sync import sync_to_async
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import connection

from campaigns.delivery import campaign_send, transports
from campaigns.mail import (
    MessageBuilder,
    encoded_words,
    header_line,
    smtp_fast_path,
    smtp_quoted,
    smtp_sendmail,
)
from campaigns.models import Campaign, Send, Suppression
from campaigns.services.audience import campaign_start
from profiles.services.consent_links import (
    BatchSigner,
    ConsentLinker,
    consent_token_read,
    preferences_token_read,
)
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with

FROM = "Bench <bench@shop.example>"
UNSUBSCRIBE = "<https://shop.example/consent/unsubscribe/eyJwIjoxMjN9:1tXyZ:abcDEF_-123/>"
HEADERS = {
    "Message-ID": "<send-42.c7@shop.example>",
    "List-Unsubscribe": UNSUBSCRIBE,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}
COMPARED = (
    "from",
    "to",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
)


def parse(data: bytes):
    return BytesParser(policy=email.policy.default).parsebytes(data)


def django_bytes(*, to, subject, text, html, headers, from_email=FROM) -> bytes:
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=from_email, to=[to], headers=headers
    )
    if html:
        message.attach_alternative(html, "text/html")
    return message.message().as_bytes(linesep="\r\n")


def bodies(message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if not part.is_multipart()
    }


def assert_same_message(fast: bytes, slow: bytes, *, subject: str) -> None:
    ours, django = parse(fast), parse(slow)
    # The delivery collapses a subject's whitespace; Django's folding of a long mixed
    # subject reads back with a space added at the start, ours exactly as given.
    assert str(ours["subject"]) == subject
    assert " ".join(str(django["subject"]).split()) == subject
    for name in COMPARED:
        assert str(ours[name]) == str(django[name]), name
    assert ours.get_content_type() == django.get_content_type()
    assert bodies(ours) == bodies(django)
    assert not ours.defects
    assert all(not part.defects for part in ours.walk())
    assert b"\r\n" in fast and b"\n" not in fast.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))


CASES = {
    "chinese": dict(
        to="li.wei@example.com",
        subject=" ".join(["A: 用户12345，上海的春季优惠来了 — spring offers in 上海 for 李伟"] * 2),
        text="A: 你好 用户12345，\n\n上海的春季优惠来了。\n\nUnsubscribe: https://x.example/u/\n",
        html="<p>A: 你好 <b>用户12345</b>，</p><p>上海的春季优惠来了。</p>",
    ),
    "ascii": dict(
        to="bob@example.com",
        subject=" ".join(["Hello Bob, spring offers in Shanghai are here"] * 3),
        text="Hello Bob\n.a line starting with a dot\nend",
        html="<p>Hello Bob</p>",
    ),
    "text only": dict(
        to="bob@example.com", subject="只有文字", text="你好\r\nBob\rline\n", html=""
    ),
    "long lines": dict(
        to="bob@example.com",
        subject="Long",
        text="word " * 400 + "\n" + "长" * 500 + "  \n.dot\n",
        html="<p>" + "<span>用户</span> " * 300 + "</p>\t \n",
    ),
    "emoji and trailing space": dict(
        to="bob@example.com",
        subject="🎉 大促 🎉",
        text="🎉 trailing space \nand tab\t\n",
        html="<p>🎉</p>",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_fast_builder_parses_to_what_django_builds(case):
    builder = MessageBuilder(from_email=FROM)

    fast = builder.build(**case, headers=HEADERS)
    slow = django_bytes(**case, headers=HEADERS)

    assert fast is not None
    assert_same_message(fast, slow, subject=case["subject"])


def test_a_chinese_sender_name_is_encoded_as_django_encodes_it():
    sender = "上海商城 Shanghai Shop <news@shop.example>"
    case = CASES["chinese"]

    fast = MessageBuilder(from_email=sender).build(**case, headers=HEADERS)
    slow = django_bytes(**case, headers=HEADERS, from_email=sender)

    assert_same_message(fast, slow, subject=case["subject"])
    assert str(parse(fast)["from"]) == "上海商城 Shanghai Shop <news@shop.example>"


def test_encoded_words_hold_whole_characters_and_short_lines():
    value = "用户" * 40 + "🎉" * 7 + "abc"

    folded = encoded_words(value)

    lines = folded.split("\r\n")
    assert all(len(line) <= 76 for line in lines)
    assert all(line.startswith(("=?utf-8?b?", " =?utf-8?b?")) for line in lines)
    for line in lines:  # each word decodes on its own: no character is split across words
        word = line.strip()[len("=?utf-8?b?") : -2]
        __import__("base64").b64decode(word).decode("utf-8")
    assert str(parse(f"Subject: {folded}\r\n\r\n".encode())["subject"]) == value


def test_what_the_fast_builder_cannot_write_is_left_to_django():
    builder = MessageBuilder(from_email=FROM)
    case = dict(CASES["ascii"])

    assert builder.build(**{**case, "to": "李@例子.中国"}, headers=HEADERS) is None
    assert builder.build(**case, headers={**HEADERS, "X-Bad": "a\r\nBcc: x@y"}) is None
    assert builder.build(**case, headers={**HEADERS, "X-Long": "x" * 1000}) is None
    assert header_line("X-Ok", "a b") == "X-Ok: a b"


def test_the_boundary_is_never_in_a_body():
    builder = MessageBuilder(from_email=FROM)
    builder._boundary_prefix = "=_fixed"
    text = "--=_fixed.1 and =_fixed.2 appear in this text"

    data = builder.build(to="bob@example.com", subject="s", text=text, html="<p>h</p>", headers={})

    message = parse(data)
    assert bodies(message)["text/plain"] == text
    assert message.get_boundary() not in text


def test_only_djangos_smtp_backend_takes_the_fast_path():
    class Signing(SmtpBackend):
        def _send(self, email_message):
            return super()._send(email_message)

    class Tuned(SmtpBackend):
        pass

    assert smtp_fast_path(SmtpBackend())
    assert smtp_fast_path(Tuned())
    assert not smtp_fast_path(Signing())
    assert not smtp_fast_path(LocmemBackend())


def test_each_consent_link_carries_its_own_token(settings):
    settings.SITE_URL = "https://shop.example"
    linker = ConsentLinker(channel="email", purpose="marketing")

    unsubscribe, preferences = linker.urls(123)

    token = unsubscribe.rstrip("/").rsplit("/", 1)[1]
    preferences_token = preferences.rstrip("/").rsplit("/", 1)[1]
    assert preferences_token != token
    assert unsubscribe.startswith("https://shop.example/") and "unsubscribe" in unsubscribe
    link = consent_token_read(token)
    assert (link.profile_id, link.channel, link.purpose) == (123, "email", "marketing")
    link = preferences_token_read(preferences_token)
    assert (link.profile_id, link.channel, link.purpose) == (123, "email", "marketing")


def test_the_batch_signer_signs_as_djangos_timestamp_signer(settings):
    settings.SECRET_KEY_FALLBACKS = ["an-old-key"]
    batch, django = BatchSigner(salt="a.salt"), signing.TimestampSigner(salt="a.salt")
    payloads = [123, {"p": 7, "c": "email", "u": "marketing"}, {"s": 9, "u": "https://a.b/" * 9}]

    with time_machine.travel("2026-03-01 08:00:00+00:00", tick=False) as clock:
        first = [batch.sign_object(p, compress=True) for p in payloads]
        expected = [django.sign_object(p, compress=True) for p in payloads]
        clock.shift(61)
        later = batch.sign_object(payloads[0])
        expected_later = django.sign_object(payloads[0])

    assert first == expected
    assert later == expected_later
    assert [signing.loads(token, salt="a.salt") for token in first] == payloads
    old = signing.TimestampSigner(key="an-old-key", salt="a.salt").sign_object(5)
    assert batch.unsign_object(old) == 5


@pytest.mark.parametrize(
    "address",
    [
        "li.wei@example.com",
        "O'Hara+news@mail.shop-example.cn",
        "a!#$%&*/=?^_`{|}~-b@x.y",
        "Bench <bench@shop.example>",
        '"li wei"@example.com',
        "user@[127.0.0.1]",
        "no-at-sign",
        "<already@quoted.example>",
    ],
)
def test_addresses_are_quoted_as_smtplib_quotes_them(address):
    assert smtp_quoted(address) == smtplib.quoteaddr(address)


# --- through a real SMTP server on loopback ---------------------------------------------------


def sendmail_outcome(send, *args):
    try:
        send(*args)
    except smtplib.SMTPException as exc:
        return type(exc), exc.args
    return None


def test_smtp_sendmail_speaks_as_smtplib_sendmail(picky_server):
    data = django_bytes(to="li@example.com", subject="春季", text="你好", html="", headers=HEADERS)
    smtp = smtplib.SMTP("127.0.0.1", picky_server.port)
    outcomes = []

    for recipient in ("li@example.com", "bounce@example.com", "busy@example.com"):
        ours = sendmail_outcome(smtp_sendmail, smtp, FROM, recipient, data)
        theirs = sendmail_outcome(smtp.sendmail, FROM, [recipient], data)
        outcomes.append((ours, theirs))
    smtp.quit()

    assert all(ours == theirs for ours, theirs in outcomes)
    assert outcomes[0][0] is None
    assert outcomes[1][0][0] is smtplib.SMTPRecipientsRefused
    received = picky_server.handler.messages
    assert [(m.mail_from, m.rcpt_tos, m.data) for m in received] == [
        ("bench@shop.example", ["li@example.com"], received[0].data)
    ] * 2


def test_with_pipelining_a_message_takes_two_writes_and_refusals_end_as_without(picky_server):
    pipelining = picky_server.handler.pipelining
    data = b"Subject: periods\r\n\r\n.starts with a period\r\n..and two\r\n"
    smtp = smtplib.SMTP("127.0.0.1", picky_server.port)
    smtp.ehlo()
    writes = []
    send = smtp.send
    smtp.send = lambda payload: (writes.append(payload), send(payload))[-1]
    attempts = [
        (FROM, "li@example.com"),
        ("blocked@shop.example", "wang@example.com"),  # MAIL refused: RCPT and DATA too
        (FROM, "bounce@example.com"),  # RCPT refused: DATA too
        (FROM, "zhao@example.com"),
    ]
    outcomes, first_writes = [], None
    for sender, recipient in attempts:
        outcomes.append(sendmail_outcome(smtp_sendmail, smtp, sender, recipient, data))
        first_writes = len(writes) if first_writes is None else first_writes
    smtp.quit()

    assert outcomes[0] is None and outcomes[3] is None
    assert outcomes[1][0] is smtplib.SMTPSenderRefused and outcomes[1][1][0] == 553
    assert outcomes[2][0] is smtplib.SMTPRecipientsRefused
    assert outcomes[2][1][0] == {"bounce@example.com": (550, b"5.1.1 No such user")}
    received = picky_server.handler.messages
    assert [(m.mail_from, m.rcpt_tos) for m in received] == [
        ("bench@shop.example", ["li@example.com"]),
        ("bench@shop.example", ["zhao@example.com"]),
    ]
    assert all(m.data == data for m in received)  # the periods arrive as written
    # MAIL, RCPT and DATA in one write, the message in another; one by one: four writes.
    assert first_writes == (2 if pipelining else 4)


class ScriptedSmtp(smtplib.SMTP):
    """An smtplib connection to no server: it records what is sent and answers from a script."""

    def __init__(self, replies):
        super().__init__()
        self.replies = list(replies)
        self.sent: list[bytes] = []
        self.does_esmtp = True
        self.esmtp_features = {"pipelining": ""}
        self.ehlo_resp = b"scripted"

    def send(self, data):
        self.sent.append(data.encode() if isinstance(data, str) else data)

    def getreply(self):
        return self.replies.pop(0)


def test_a_server_that_takes_data_after_a_refused_recipient_gets_it_ended_before_the_rset():
    # Against RFC 2920, this server answers DATA with 354 although it refused the recipient.
    smtp = ScriptedSmtp([(250, b"OK"), (550, b"No such user"), (354, b"Go"), (250, b"OK")])
    smtp.rset = lambda: smtp.sent.append(b"RSET\r\n")

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp_sendmail(smtp, FROM, "bounce@example.com", b"Subject: hi\r\n\r\nhi\r\n")

    assert smtp.sent[1:] == [b".\r\n", b"RSET\r\n"]  # the empty message ended, then RSET
    assert smtp.replies == []


@pytest.mark.django_db(transaction=True)
def test_the_sender_thread_sends_each_once_and_records_bounces_and_deferrals(
    smtp_settings, picky_server
):
    good = profiles_make(23, name="李伟", city="上海")
    bounce = profiles_make(1, email="bounce@example.com")
    busy = profiles_make(1, email="busy@example.com")
    campaign = campaign_ready(include=[segment_with(good + bounce + busy)])
    campaign.variants.update(
        subject="{{ name }}，{{ city }}的春季优惠", body_html="<p>你好 {{ name }}</p>"
    )
    campaign_start(campaign_id=campaign.pk)

    result = campaign_send(campaign_id=campaign.pk)

    assert (result.sent, result.failed, result.retried) == (23, 1, 1)
    received = picky_server.handler.messages
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(p.email for p in good)
    rows = {row.profile_id: row for row in Send.objects.filter(campaign=campaign)}
    for message in received:
        row = next(r for r in rows.values() if r.address == message.rcpt_tos[0])
        assert row.status == Send.Status.SENT
        assert message.message_id == row.message_id
        assert message.headers["subject"] == "李伟，上海的春季优惠"
        assert "你好 李伟" in message.html
        assert message.headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
        token = message.headers["list-unsubscribe"].strip("<>").rstrip("/").rsplit("/", 1)[1]
        assert consent_token_read(token).profile_id == row.profile_id
    assert rows[bounce[0].pk].status == Send.Status.FAILED
    assert rows[bounce[0].pk].error.startswith("550")
    assert Suppression.objects.filter(address="bounce@example.com").exists()
    assert rows[busy[0].pk].status == Send.Status.QUEUED
    assert "451" in rows[busy[0].pk].error
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENDING  # busy waits


@pytest.mark.django_db(transaction=True)
def test_a_lost_connection_is_reopened_and_the_rest_still_goes(smtp_settings, picky_server):
    profiles = profiles_make(6)
    campaign = campaign_ready(include=[segment_with(profiles)])
    campaign_start(campaign_id=campaign.pk)
    calls = {"n": 0}
    original = AioSMTP.smtp_DATA

    async def drop_third(self, arg):
        calls["n"] += 1
        if calls["n"] == 3:
            self.transport.close()  # the server hangs up in the middle of a message
            return None
        return await original(self, arg)

    AioSMTP.smtp_DATA = drop_third
    try:
        result = campaign_send(campaign_id=campaign.pk)
    finally:
        AioSMTP.smtp_DATA = original

    assert (result.sent, result.retried) == (5, 1)
    statuses = sorted(Send.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == ["queued"] + ["sent"] * 5
    assert len(picky_server.handler.messages) == 5


@pytest.mark.django_db(transaction=True)
def test_smtp_is_spoken_in_the_workers_thread_with_no_other_thread(
    smtp_settings, picky_server, monkeypatch
):
    profiles = profiles_make(9)
    campaign = campaign_ready(include=[segment_with(profiles)])
    campaign_start(campaign_id=campaign.pk)
    before = set(threading.enumerate())
    seen = []  # (the thread speaking SMTP, the threads beyond those before the send)

    def watched(*args):
        seen.append((threading.current_thread(), set(threading.enumerate()) - before))
        return smtp_sendmail(*args)

    monkeypatch.setattr(transports, "smtp_sendmail", watched)

    result = campaign_send(campaign_id=campaign.pk, limit=5)  # two batches

    assert result.sent == 9 == len(seen)
    assert all(speaker is threading.current_thread() and not extra for speaker, extra in seen)
    assert set(threading.enumerate()) == before


# --- several batches in one send call ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_batches_of_one_send_share_one_connection_and_send_every_row_once(
    smtp_settings, picky_server, monkeypatch
):
    profiles = profiles_make(11)
    campaign = campaign_ready(include=[segment_with(profiles)])
    campaign_start(campaign_id=campaign.pk)
    connected = []
    original = SmtpBackend.open

    def counted(self):
        opened = original(self)
        if opened:
            connected.append(self)
        return opened

    monkeypatch.setattr(SmtpBackend, "open", counted)

    result = campaign_send(campaign_id=campaign.pk, limit=3)  # four batches

    assert (result.claimed, result.sent) == (11, 11)
    assert len(connected) == 1
    received = sorted(m.rcpt_tos[0] for m in picky_server.handler.messages)
    assert received == sorted(p.email for p in profiles)
    statuses = set(Send.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {Send.Status.SENT}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_a_pause_mid_send_puts_the_unsent_rows_back_in_the_queue(
    smtp_settings, picky_server, monkeypatch
):
    profiles = profiles_make(12)
    campaign = campaign_ready(include=[segment_with(profiles)])
    campaign_start(campaign_id=campaign.pk)
    original = AioSMTP.smtp_DATA
    calls = {"n": 0}

    def pause():
        try:
            Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
        finally:
            connection.close()  # this thread's own connection

    async def pause_at_third(self, arg):
        calls["n"] += 1
        if calls["n"] == 3:  # a manager pauses the campaign while batch two is being sent
            await sync_to_async(pause, thread_sensitive=False)()
        return await original(self, arg)

    monkeypatch.setattr(AioSMTP, "smtp_DATA", pause_at_third)

    result = campaign_send(campaign_id=campaign.pk, limit=2)

    rows = Send.objects.filter(campaign=campaign)
    assert not rows.filter(status=Send.Status.SENDING).exists()
    queued = rows.filter(status=Send.Status.QUEUED)
    assert queued.exists()
    assert not queued.filter(batch__isnull=False).exists()
    assert rows.filter(status=Send.Status.SENT).count() == result.sent
    assert len(picky_server.handler.messages) == result.sent < 12
