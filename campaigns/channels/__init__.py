"""The channel registry: every way of reaching people, each declared by one module.

Every module of this package is imported on first use, and so is each module named in the
CAMPAIGN_CHANNEL_MODULES setting; a module registers its channel with ``@register``
(``campaigns.channels.base``). CAMPAIGN_CHANNELS lists the keys offered on screens and in the
API (empty: every registered channel); a stored campaign of a channel no longer offered still
sends and shows.

    channel_get("sms").address(profile.phone)    # "+8613812345678", or "" when not valid
    channel_choices()                            # [("email", "Email"), ("sms", "SMS"), …]
"""

import importlib
import pkgutil

from django.conf import settings

from campaigns.channels.base import ChannelSpec, ContentField, register, registered

__all__ = [
    "ChannelSpec",
    "ContentField",
    "channel_choices",
    "channel_get",
    "channels_all",
    "channels_offered",
    "offered_choices",
    "register",
]

_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    names = [f"{__name__}.{info.name}" for info in pkgutil.iter_modules(__path__)]
    for name in [*names, *getattr(settings, "CAMPAIGN_CHANNEL_MODULES", ())]:
        importlib.import_module(name)
    _loaded = True


def channels_all() -> dict[str, ChannelSpec]:
    """Return every registered channel by key, in list order."""
    _load()
    return registered()


def channel_get(key: str) -> ChannelSpec:
    """Return the channel registered as ``key``; raise KeyError when there is none."""
    channels = channels_all()
    if key not in channels:
        raise KeyError(f"no channel is registered as {key!r}; known: {', '.join(channels)}")
    return channels[key]


def channels_offered() -> dict[str, ChannelSpec]:
    """Return the channels offered for new campaigns and flow steps (CAMPAIGN_CHANNELS)."""
    channels = channels_all()
    keys = [key for key in getattr(settings, "CAMPAIGN_CHANNELS", ()) if key]
    if not keys:
        return channels
    return {key: spec for key, spec in channels.items() if key in keys}


def channel_choices() -> list[tuple[str, str]]:
    """Return (key, label) of every registered channel (the model field's choices)."""
    return [(key, spec.label) for key, spec in channels_all().items()]


def offered_choices() -> list[tuple[str, str]]:
    """Return (key, label) of the channels offered on forms and in the API."""
    return [(key, spec.label) for key, spec in channels_offered().items()]
