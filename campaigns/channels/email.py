"""Email: the profile's address, the variant's subject, text and HTML, Django's email backends."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from campaigns.channels.base import ChannelSpec, register


@register
class EmailChannel(ChannelSpec):
    key = "email"
    label = _("Email")
    consent_channel = "email"
    address_field = "email"
    address_label = _("Email")
    tracks_opens = True
    tracks_clicks = True
    rate_setting = "CAMPAIGN_RATE_LIMIT_EMAIL"
    position = 10

    def address(self, contact) -> str:
        email = (contact or "").strip()
        try:
            validate_email(email)
        except ValidationError:
            return ""
        return email

    def build(self, renderer, row):
        return renderer.email(row)

    def transport(self):
        from campaigns.delivery.transports import EmailTransport

        return EmailTransport()
