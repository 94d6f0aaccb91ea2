"""What a channel declares, and the registry the channel modules add themselves to.

A channel is one module in ``campaigns.channels`` (or any module named in CAMPAIGN_CHANNEL_MODULES)
defining a ``ChannelSpec`` subclass decorated with ``@register``. The send loop, the guards, the
reachable audience, the composer and the results ask the registry what a channel needs instead of
knowing the channels: which profile field holds the address and how to check it, which consent
channel it obeys, what a variant of its content holds (``content``), how a row becomes a message
(``message``) and what carries the message out (``transport``).

    @register
    class PushChannel(ChannelSpec):
        key = "push"
        label = _("App push")
        consent_channel = "push"
        ...
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# ContentField kinds: how a variant's value is kept and rendered.
PLAIN = "plain"  # kept as typed (a template id, a choice): never rendered
TEMPLATE = "template"  # one line rendered per profile in the sandbox
TEXT = "text"  # several lines rendered per profile in the sandbox
PARAMS = "params"  # {name: template}, each value rendered per profile
KINDS = (PLAIN, TEMPLATE, TEXT, PARAMS)


@dataclass(frozen=True)
class ContentField:
    """One part of a variant's content on a channel, kept in ``Variant.fields[name]``."""

    name: str
    label: str | Promise
    kind: str = TEMPLATE
    required: bool = False
    help_text: str | Promise = ""
    max_length: int = 2000

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"ContentField {self.name!r}: kind {self.kind!r} is not one of {KINDS}"
            )


class ChannelSpec:
    """A way of reaching people: subclass it in one module and decorate it with ``@register``.

    Class attributes:
        key: stored in ``Campaign.channel`` and ``Suppression.channel`` (≤ 10 characters).
        label: the channel's name on screens.
        consent_channel: the consent channel a recipient must have granted for the campaign's
            purpose (``profiles.ConsentChannel``).
        address_field: the Profile field read as each row's contact, or "" when ``addresses``
            is overridden (contacts kept elsewhere, e.g. device tokens).
        address_label: what the address is called on screens ("Email", "Mobile number", …).
        content: the variant's content, ``ContentField``s kept in ``Variant.fields``; empty for
            the channels whose content is the variant's subject/text/HTML columns.
        tracks_opens, tracks_clicks: whether results can count them (else "not tracked").
        rate_setting: the setting giving the messages per second all workers share (0: none).
    """

    key: ClassVar[str] = ""
    label: ClassVar[str | Promise] = ""
    consent_channel: ClassVar[str] = ""
    address_field: ClassVar[str] = ""
    address_label: ClassVar[str | Promise] = _("Address")
    content: ClassVar[tuple[ContentField, ...]] = ()
    # A channel with a text body may take a few parts beside it (an SMS provider's template
    # code and parameters), kept in ``Variant.fields`` too.
    template_content: ClassVar[tuple[ContentField, ...]] = ()
    tracks_opens: ClassVar[bool] = False
    tracks_clicks: ClassVar[bool] = False
    rate_setting: ClassVar[str] = ""
    position: ClassVar[int] = 100  # where it comes in lists (email 10, SMS 20, …)

    def consent_for(self, campaign) -> str:
        """Return the consent channel ``campaign``'s recipients need (for its purpose); a
        channel whose consent depends on the campaign (a webhook's endpoint) overrides it."""
        return self.consent_channel

    def content_errors(self, values: Mapping[str, Any], *, complete: bool) -> dict[str, str]:
        """Return the channel's own errors of a variant's parts whose shape and templates
        passed (e.g. a named endpoint that does not exist), by part; empty when all is well."""
        return {}

    def address(self, contact: Any) -> str:
        """Return the valid address ``contact`` gives on this channel, or "" (not sendable)."""
        return str(contact or "").strip()

    def addresses(self, profile_ids: Iterable[int]) -> dict[int, Any]:
        """Return {profile id: contact} for profiles whose contact is not a Profile field."""
        raise NotImplementedError(f"{type(self).__name__} sets no address_field")

    def has_address(self) -> Q:
        """Return a filter on Profile keeping the profiles that may have an address here."""
        if self.address_field:
            return ~Q(**{self.address_field: ""})
        return Q()

    def build(self, renderer, row) -> Any:
        """Return the message for a claimed row (``renderer``: ``delivery.render.Renderer``);
        raise ``NotRendered`` when its content cannot be made for this profile."""
        return self.message(row, renderer.fields(row))

    def message(self, row, rendered: Mapping[str, Any]) -> Any:
        """Return what the transport sends for ``row``, from its rendered content."""
        raise NotImplementedError(f"{type(self).__name__} must define message()")

    def transport(self):
        """Return a new transport for this channel (not open yet): see ``delivery.transports``."""
        raise NotImplementedError(f"{type(self).__name__} must define transport()")

    def clicks_tracked(self) -> bool:
        """Return whether clicks are counted now (``tracks_clicks``, unless settings turn the
        tracking off)."""
        return self.tracks_clicks

    def rate(self) -> float:
        """Return the messages per second all workers share on this channel (0: no limit)."""
        return float(getattr(settings, self.rate_setting, 0) or 0) if self.rate_setting else 0.0

    def __repr__(self) -> str:
        return f"<channel {self.key}>"


_registry: dict[str, ChannelSpec] = {}


def register(cls: type[ChannelSpec]) -> type[ChannelSpec]:
    """Add a channel class to the registry (a class decorator); a key can be taken once."""
    if not cls.key or len(cls.key) > 10:
        raise ValueError(f"{cls.__name__}.key must be 1 to 10 characters, not {cls.key!r}")
    if cls.key in _registry and type(_registry[cls.key]) is not cls:
        raise ValueError(f"channel {cls.key!r} is already registered by {_registry[cls.key]!r}")
    if not cls.address_field and cls.addresses is ChannelSpec.addresses:
        raise ValueError(f"{cls.__name__} needs an address_field or an addresses() method")
    _registry[cls.key] = cls()
    return cls


def registered() -> dict[str, ChannelSpec]:
    """Return every registered channel by key, in list order (``position``, then key)."""
    return dict(sorted(_registry.items(), key=lambda item: (item[1].position, item[0])))
