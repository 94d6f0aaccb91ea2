"""What people call the values of free-form profile data that the product itself knows.

The acquisition channel and event names are free text from the client's systems; the common ones
get a name in the user's language, any other value is shown as it was imported (it is the
client's own word). The rule builder (``segments.labels``) and the profile pages share them.
"""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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
EVENT_LABELS = {
    "purchase": pgettext_lazy("event", "purchase"),
    "page_view": pgettext_lazy("event", "page view"),
    "app_open": pgettext_lazy("event", "app open"),
    "add_to_cart": pgettext_lazy("event", "add to cart"),
    "consultation": pgettext_lazy("event", "consultation"),
    "feedback": pgettext_lazy("event", "feedback"),
    "community_post": pgettext_lazy("event", "community post"),
    "referral": pgettext_lazy("event", "referral"),
    "signup": pgettext_lazy("event", "sign-up"),
    "login": pgettext_lazy("event", "login"),
    "visit": pgettext_lazy("event", "visit"),
}


def acquisition_channel_label(value: str) -> str:
    """Return the name of acquisition channel ``value``: translated when known, else as is."""
    label = ACQUISITION_CHANNELS.get(value)
    return value if label is None else str(label)


def event_label(name: str) -> str:
    """Return what people call event ``name`` (the name itself for an event it does not know)."""
    label = EVENT_LABELS.get(name)
    return str(label) if label is not None else name
