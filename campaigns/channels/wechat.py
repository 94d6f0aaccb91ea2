"""The WeChat Official Account channel: template messages and subscription notices to openids.

A variant holds the approved template's id, a value template per keyword of the template
(``data``), an optional link (its clicks tracked through our redirect) and the message type
(a template message, or a subscription notice). The address is the profile's openid.

A template message (``POST /cgi-bin/message/template/send``) carries the approved template's id,
its data (``{"key": {"value": "…"}}``), an optional link or mini program page, and
``client_msg_id`` (the send row: the platform drops a repeat of it within minutes, so a retry
after a lost answer does not reach the person twice). A subscription notice
(``/cgi-bin/message/subscribe/bizsend``) has the same shape with ``page`` for the link.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from campaigns.channels.base import PARAMS, PLAIN, ChannelSpec, ContentField, register
from campaigns.channels.base import TEMPLATE as TEMPLATE_KIND
from campaigns.channels.weixin import ErrorTable, TokenTransport, required
from campaigns.delivery.transports import Outcome
from core.errors import coded

TEMPLATE = "template"
SUBSCRIBE = "subscribe"
PATHS = {
    TEMPLATE: "/cgi-bin/message/template/send",
    SUBSCRIBE: "/cgi-bin/message/subscribe/bizsend",
}

ERRORS = ErrorTable(
    # -1 system busy, 45009 daily quota reached, 45011 minute quota reached
    retry=frozenset({-1, 45009, 45011}),
    # 43004 not a follower, 43019 the account is on the person's blacklist, 43101 the person
    # refused (or cancelled the subscription): the address takes no more messages.
    bounce=frozenset({43004, 43019, 43101}),
)


@dataclass(frozen=True)
class WechatMessage:
    """One template message or subscription notice to one openid."""

    touser: str
    template_id: str
    data: dict[str, str]
    url: str = ""
    miniprogram: dict[str, str] = field(default_factory=dict)  # {"appid", "pagepath"}
    kind: str = TEMPLATE
    reference: str = ""  # our id of the message (the send row)

    def body(self) -> dict:
        """Return the JSON body the platform documents for this kind of message."""
        body = {
            "touser": self.touser,
            "template_id": self.template_id,
            "data": {key: {"value": value} for key, value in self.data.items()},
        }
        if self.url:
            body["url" if self.kind == TEMPLATE else "page"] = self.url
        if self.miniprogram:
            body["miniprogram"] = dict(self.miniprogram)
        if self.kind == TEMPLATE and self.reference:
            body["client_msg_id"] = self.reference
        return body


class WechatTransport(TokenTransport):
    """Template messages and subscription notices through the Official Account's API."""

    platform = "WeChat"
    url_setting = "WECHAT_API_URL"
    token_path = "/cgi-bin/token"  # noqa: S105 (a path, not a secret)
    errors = ERRORS

    def credentials(self) -> tuple[str, dict[str, str]]:
        app_id, secret = settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET
        required(self.platform, WECHAT_APP_ID=app_id, WECHAT_APP_SECRET=secret)
        query = {"grant_type": "client_credential", "appid": app_id, "secret": secret}
        return f"wechat:{app_id}", query

    def send(self, messages: Sequence[WechatMessage], pace: Callable[[], None]) -> list[Outcome]:
        return [
            self.attempt(PATHS[message.kind], message.body(), pace, id_field="msgid")
            for message in messages
        ]


# An openid (28 characters in practice): letters, digits, - and _.
OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")
MESSAGE_TYPES = {"": TEMPLATE, TEMPLATE: TEMPLATE, SUBSCRIBE: SUBSCRIBE}
ERROR_MESSAGE_TYPE = coded(
    "wechat.message_type",
    gettext_noop("The message type is “{value}”; it must be “template” or “subscribe”."),
)


def tracked(url: str, *, send_id: int) -> str:
    """Return ``url`` through our click redirect (CAMPAIGN_TRACKING), else as it is."""
    parts = urlsplit(url)
    if not settings.CAMPAIGN_TRACKING or parts.scheme not in ("http", "https") or not parts.netloc:
        return url
    from campaigns.tracking import click_url

    return click_url(send_id=send_id, url=url)


@register
class WechatChannel(ChannelSpec):
    key = "wechat"
    label = _("WeChat template message")
    consent_channel = "wechat"
    address_field = "wechat_openid"
    address_label = _("WeChat openid")
    content = (
        ContentField(
            "template_id",
            _("Template ID"),
            kind=PLAIN,
            required=True,
            max_length=64,
            help_text=_("The template's ID in the Official Account's template library."),
        ),
        ContentField(
            "data",
            _("Template data"),
            kind=PARAMS,
            required=True,
            max_length=200,
            help_text=_("A value for each keyword of the template, e.g. keyword1, thing2."),
        ),
        ContentField(
            "url",
            _("Link"),
            kind=TEMPLATE_KIND,
            max_length=1024,
            help_text=_("Opened when the message is tapped; its clicks are counted."),
        ),
        ContentField(
            "message_type",
            _("Message type"),
            kind=PLAIN,
            max_length=20,
            help_text=_("“template” (the default) or “subscribe” for a subscription notice."),
        ),
    )
    tracks_opens = False
    tracks_clicks = True
    rate_setting = "WECHAT_RATE_PER_SECOND"
    position = 30

    def address(self, contact) -> str:
        openid = str(contact or "").strip()
        return openid if OPENID.fullmatch(openid) else ""

    def message(self, row, rendered: Mapping) -> WechatMessage:
        from campaigns.delivery.render import NotRendered

        message_type = str(rendered.get("message_type") or "").strip().lower()
        if message_type not in MESSAGE_TYPES:
            raise NotRendered(ERROR_MESSAGE_TYPE.format(value=message_type))
        url = str(rendered.get("url") or "").strip()
        ledger = bool(row.pk)  # a test message has no send row: no tracking, no dedup id
        return WechatMessage(
            touser=row.address,
            template_id=str(rendered["template_id"]).strip(),
            data=dict(rendered.get("data") or {}),
            url=tracked(url, send_id=row.pk) if url and ledger else url,
            kind=MESSAGE_TYPES[message_type],
            reference=f"send-{row.pk}" if ledger else "",
        )

    def transport(self) -> WechatTransport:
        return WechatTransport()
