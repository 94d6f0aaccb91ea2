"""What people call stored names of a profile's data: events and acquisition channels.

Events and acquisition channels are free text (any import may bring a new one); the names the
product and its demo use have a translated label, any other is shown as it is. The rule builder
(``segments.labels``) and the profile pages share these words.
"""

from django.utils.translation import pgettext_lazy

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
ACQUISITION_CHANNEL_LABELS = {
    "organic": pgettext_lazy("acquisition channel", "organic"),
    "wechat": pgettext_lazy("acquisition channel", "WeChat"),
    "douyin": pgettext_lazy("acquisition channel", "Douyin"),
    "search": pgettext_lazy("acquisition channel", "search"),
    "referral": pgettext_lazy("acquisition channel", "referral"),
    "offline_store": pgettext_lazy("acquisition channel", "offline store"),
}


def event_label(name: str) -> str:
    """Return what people call event ``name`` (the name itself for an event it does not know)."""
    label = EVENT_LABELS.get(name)
    return str(label) if label is not None else name


def acquisition_channel_label(name: str) -> str:
    """Return what people call acquisition channel ``name`` (the name itself if unknown)."""
    label = ACQUISITION_CHANNEL_LABELS.get(name)
    return str(label) if label is not None else name
