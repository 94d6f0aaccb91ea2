"""The WeChat Official Account channel: template messages and subscription notices to openids.

A template message (``POST /cgi-bin/message/template/send``) carries the approved template's id,
its data (``{"key": {"value": "…"}}``), an optional link or mini program page, and
``client_msg_id`` (the send row: the platform drops a repeat of it within minutes, so a retry
after a lost answer does not reach the person twice). A subscription notice
(``/cgi-bin/message/subscribe/bizsend``) has the same shape with ``page`` for the link.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from campaigns.channels.weixin import ErrorTable, TokenTransport, required
from campaigns.delivery.transports import Outcome

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
