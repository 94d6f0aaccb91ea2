"""What people call the values of free-form profile fields that the product itself knows.

The acquisition channel is free text from the client's systems; the common ones get a name in
the user's language, any other value is shown as it was imported (it is the client's own word).
"""

from django.utils.translation import gettext_lazy as _

ACQUISITION_CHANNELS = {
    "organic": _("Organic"),
    "wechat": _("WeChat"),
    "douyin": _("Douyin"),
    "search": _("Search"),
    "referral": _("Referral"),
    "offline_store": _("Offline store"),
    "ads": _("Ads"),
    "email": _("Email"),
    "sms": _("SMS"),
}


def acquisition_channel_label(value: str) -> str:
    """Return the name of acquisition channel ``value``: translated when known, else as is."""
    label = ACQUISITION_CHANNELS.get(value)
    return value if label is None else str(label)
