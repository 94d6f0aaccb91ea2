"""App push: a title, a body and an optional deep link, to each profile's newest device.

Addresses are push devices (``profiles.Device``), kept apart from the profile, so the channel
reads them with ``addresses``: **one message per profile, to the device it was seen on last**
(``profiles.services.devices.devices_newest``). One message per profile keeps the send ledger's
promise (one row, one message, one provider id, at most once) and the frequency cap's count
honest; sending to every device would turn one row into several messages with several fates. A
device's address is ``<provider>:<token>`` (``fcm:…``, ``jpush:…``): the provider picks the
backend (``campaigns.channels.push_backend``), the token is the audience.

When the provider says the device is gone (FCM UNREGISTERED or an invalid token, JPush 1011),
the row fails for good and the token is removed, so the profile's next message goes to its
next newest device; no suppression is written (a token is not a person's address, and a new
installation gets a new token anyway).
"""

from collections.abc import Iterable, Mapping

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from campaigns.channels.base import ChannelSpec, ContentField, register
from campaigns.channels.push_backend import PushMessage, PushTransport, push_address
from profiles.models import Device
from profiles.services.devices import devices_newest


@register
class PushChannel(ChannelSpec):
    key = "push"
    label = _("App push")
    consent_channel = "push"
    address_label = _("Push device")
    content = (
        ContentField("title", _("Title"), kind="template", required=True, max_length=200),
        ContentField("body", _("Text"), kind="text", required=True, max_length=2000),
        ContentField(
            "link",
            _("Deep link"),
            kind="template",
            help_text=_("Opened when the notification is tapped, e.g. myshop://product/42"),
        ),
    )
    tracks_opens = False
    tracks_clicks = False
    rate_setting = "CAMPAIGN_RATE_LIMIT_PUSH"
    position = 50

    def address(self, contact) -> str:
        return push_address(contact)

    def addresses(self, profile_ids: Iterable[int]) -> dict[int, str]:
        """Return each profile's newest device as ``<provider>:<token>``."""
        return {
            pk: device.address for pk, device in devices_newest(profile_ids=profile_ids).items()
        }

    def has_address(self) -> Q:
        return Q(Exists(Device.objects.filter(profile=OuterRef("pk"))))

    def message(self, row, rendered: Mapping[str, str]) -> PushMessage:
        provider, _colon, token = row.address.partition(":")
        return PushMessage(
            provider=provider,
            token=token,
            title=str(rendered.get("title") or "").strip(),
            body=str(rendered.get("body") or "").strip(),
            link=str(rendered.get("link") or "").strip(),
            reference=f"send-{row.pk}",
        )

    def transport(self) -> PushTransport:
        return PushTransport()
