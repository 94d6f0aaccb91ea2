"""The WeCom (企业微信) channel: messages to customers (external contacts), and group bots.

Customer messages go through the corp's group send (``POST
/cgi-bin/externalcontact/add_msg_template``): one call names the member who sends
(``WECOM_SENDER``) and up to 10,000 customers' external user ids, and the member confirms the
send in WeCom. Messages of a batch with the same content go in one call; the customers in the
answer's ``fail_list`` (not the member's customers, or over the platform's monthly limit) fail.
Links are not rewritten for click tracking: a link per customer would make every message's
content differ, one group send (and one confirmation) per customer.

A group bot (``GroupBot``) posts text, markdown or news to one group chat through its webhook key
(``/cgi-bin/webhook/send?key=…``): for notices to a team, not to profiles.
"""

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from campaigns.channels.access_token import TokenError
from campaigns.channels.base import TEMPLATE, TEXT, ChannelSpec, ContentField, register
from campaigns.channels.weixin import ErrorTable, JsonApi, TokenTransport, Unreachable, required
from campaigns.delivery.pacing import Pacer
from campaigns.delivery.transports import Outcome
from core.errors import coded

SEND_PATH = "/cgi-bin/externalcontact/add_msg_template"
MAX_CUSTOMERS = 10_000  # external user ids in one call

ERRORS = ErrorTable(
    # -1 system busy, 45009 over the API's frequency, 45033 too many calls at once
    retry=frozenset({-1, 45009, 45033}),
    # 40096 not a valid external user id, 84061 no contact relation with the customer any more
    bounce=frozenset({40096, 84061}),
)
ERROR_NOT_TAKEN = coded(
    "wecom.fail_list",
    gettext_noop(
        "WeCom did not take the message for this customer (not a customer of {sender}, or "
        "over the monthly limit)."
    ),
)


@dataclass(frozen=True)
class WecomMessage:
    """A text (and optionally a link card) for one customer, sent by a member."""

    external_userid: str
    text: str
    sender: str
    link_title: str = ""
    link_url: str = ""

    def content(self) -> dict:
        """Return the content part of the call's body (all but the customers)."""
        body = {"chat_type": "single", "sender": self.sender}
        if self.text:
            body["text"] = {"content": self.text}
        if self.link_url:
            link = {"title": self.link_title or self.link_url, "url": self.link_url}
            body["attachments"] = [{"msgtype": "link", "link": link}]
        return body


class WecomTransport(TokenTransport):
    """Customer messages through the corp's group send, one call per distinct content."""

    platform = "WeCom"
    url_setting = "WECOM_API_URL"
    token_path = "/cgi-bin/gettoken"  # noqa: S105 (a path, not a secret)
    errors = ERRORS

    def credentials(self) -> tuple[str, dict[str, str]]:
        corp_id, secret = settings.WECOM_CORP_ID, settings.WECOM_SECRET
        required(self.platform, WECOM_CORP_ID=corp_id, WECOM_SECRET=secret)
        name = hashlib.sha256(secret.encode()).hexdigest()[:12]  # one token per secret
        return f"wecom:{corp_id}:{name}", {"corpid": corp_id, "corpsecret": secret}

    def send(self, messages: Sequence[WecomMessage], pace: Callable[[], None]) -> list[Outcome]:
        groups: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            key = repr(sorted(message.content().items()))
            groups.setdefault(key, []).append(index)
        outcomes: list[Outcome | None] = [None] * len(messages)
        for indexes in groups.values():
            for start in range(0, len(indexes), MAX_CUSTOMERS):
                part = indexes[start : start + MAX_CUSTOMERS]
                answered = self._group([messages[i] for i in part], pace)
                for index, outcome in zip(part, answered, strict=True):
                    outcomes[index] = outcome
        return outcomes

    def _group(self, messages: list[WecomMessage], pace: Callable[[], None]) -> list[Outcome]:
        """Send one content to several customers; return their outcomes in order."""
        for _message in messages:
            pace()
        body = {
            **messages[0].content(),
            "external_userid": [message.external_userid for message in messages],
        }
        try:
            answer = self.call(SEND_PATH, body)
        except (Unreachable, TokenError) as exc:
            return [Outcome(exc.dumps())] * len(messages)
        if answer.errcode in ERRORS.bounce and len(messages) > 1:
            # One of them is not a customer any more: send them one by one to tell which.
            return [self._group([message], lambda: None)[0] for message in messages]
        if answer.errcode:
            return [self.errors.outcome(answer, platform=self.platform)] * len(messages)
        failed = set(answer.body.get("fail_list") or ())
        provider_id = str(answer.body.get("msgid", ""))
        return [
            Outcome(ERROR_NOT_TAKEN.dumps(sender=message.sender), permanent=True)
            if message.external_userid in failed
            else Outcome(provider_id=provider_id)
            for message in messages
        ]


# An external user id: letters, digits, - and _ (wm… for WeChat users, wo… for WeCom users).
EXTERNAL_USERID = re.compile(r"[A-Za-z0-9_-]{6,64}")


@register
class WecomChannel(ChannelSpec):
    key = "wecom"
    label = _("WeCom customer message")
    consent_channel = "wecom"
    address_field = "wecom_external_userid"
    address_label = _("WeCom external user id")
    content = (
        ContentField("text", _("Text"), kind=TEXT, required=True, max_length=1300),
        ContentField("link_title", _("Link title"), kind=TEMPLATE, max_length=128),
        ContentField("link_url", _("Link"), kind=TEMPLATE, max_length=1024),
    )
    tracks_opens = False
    tracks_clicks = False
    rate_setting = "WECOM_RATE_PER_SECOND"
    position = 40

    def address(self, contact) -> str:
        userid = str(contact or "").strip()
        return userid if EXTERNAL_USERID.fullmatch(userid) else ""

    def message(self, row, rendered: Mapping) -> WecomMessage:
        return WecomMessage(
            external_userid=row.address,
            text=str(rendered.get("text") or ""),
            sender=settings.WECOM_SENDER,
            link_title=str(rendered.get("link_title") or "").strip(),
            link_url=str(rendered.get("link_url") or "").strip(),
        )

    def transport(self) -> WecomTransport:
        return WecomTransport()


BOT_KINDS = ("text", "markdown", "news")
BOT_LIMITS = {"text": 2048, "markdown": 4096}  # bytes of content the platform documents
BOT_PER_MINUTE = 20
ERROR_BOT_KIND = "A group bot sends {kinds}, not {kind!r}."
ERROR_BOT_LONG = "A group bot's {kind} content is at most {limit} bytes; this is {size}."
ERROR_BOT_NEWS = "A group bot's news has 1 to 8 articles, each with a title and a url."
BOT_ERRORS = ErrorTable(retry=frozenset({-1, 45009}))


class GroupBot:
    """A WeCom group chat's bot, reached through its webhook key, paced to 20 messages a minute
    across every worker."""

    def __init__(self, key: str):
        self.key = key
        self.api: JsonApi | None = None
        slot = hashlib.sha256(key.encode()).hexdigest()[:7]
        self.pacer = Pacer(channel=f"bot{slot}", rate=BOT_PER_MINUTE / 60)

    def send(self, kind: str, content) -> Outcome:
        """Post ``content`` (the text or markdown, or a list of news articles: title, url,
        description, picurl) to the group; raise ValueError when the platform would refuse it."""
        body = bot_body(kind, content)
        if self.api is None:
            self.api = JsonApi(
                settings.WECOM_API_URL,
                setting="WECOM_API_URL",
                platform="WeCom",
                timeout=settings.WEIXIN_TIMEOUT,
            )
        self.pacer.wait()
        try:
            answer = self.api.post("/cgi-bin/webhook/send", {"key": self.key}, body)
        except Unreachable as exc:
            return Outcome(exc.dumps())
        return BOT_ERRORS.outcome(answer, platform="WeCom")

    def close(self) -> None:
        if self.api is not None:
            self.api.close()


def bot_body(kind: str, content) -> dict:
    """Return a group bot's body for ``kind``; raise ValueError naming what is wrong."""
    if kind not in BOT_KINDS:
        raise ValueError(ERROR_BOT_KIND.format(kinds=", ".join(BOT_KINDS), kind=kind))
    if kind == "news":
        articles = list(content or ())
        if not 1 <= len(articles) <= 8 or any(
            not a.get("title") or not a.get("url") for a in articles
        ):
            raise ValueError(ERROR_BOT_NEWS)
        return {"msgtype": "news", "news": {"articles": articles}}
    size = len(str(content).encode())
    if not content or size > BOT_LIMITS[kind]:
        raise ValueError(ERROR_BOT_LONG.format(kind=kind, limit=BOT_LIMITS[kind], size=size))
    return {"msgtype": kind, kind: {"content": str(content)}}
