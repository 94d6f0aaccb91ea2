"""SMS: the profile's mobile number (E.164), the variant's text, the SMS_BACKEND."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from campaigns.channels.base import PARAMS, PLAIN, ChannelSpec, ContentField, register
from profiles.ingest.phones import phone_e164


@register
class SmsChannel(ChannelSpec):
    key = "sms"
    label = _("SMS")
    consent_channel = "sms"
    address_field = "phone"
    address_label = _("Mobile number")
    rate_setting = "CAMPAIGN_RATE_LIMIT_SMS"
    position = 20
    template_content = (
        ContentField(
            "template_code",
            _("Provider template code"),
            kind=PLAIN,
            max_length=64,
            help_text=_("The approved template (e.g. SMS_123456); empty: SMS_TEMPLATE_CODE."),
        ),
        ContentField("params", _("Template parameters"), kind=PARAMS, max_length=500),
    )
    tracks_clicks = True  # links become short links on SITE_URL (campaigns.shortlinks)

    def clicks_tracked(self) -> bool:
        return bool(settings.CAMPAIGN_TRACKING and settings.SMS_SHORT_LINKS)

    def address(self, contact) -> str:
        # The stored text (rows load it raw): checked without a parse when already E.164.
        return phone_e164(contact) if contact else ""

    def build(self, renderer, row):
        return renderer.sms(row)

    def transport(self):
        from campaigns.delivery.transports import SmsTransport

        return SmsTransport()
