"""Short links in SMS texts: ``SITE_URL/s/<code>`` records a click on the send and redirects.

An SMS has no room for the email's signed click token, so each link of a campaign is kept once
(``ShortLink``) and a message's link is ``<send id>-<link id>-<signature>``: both ids in base 62
and the first 10 characters of an HMAC-SHA256 of them under the project's secret
(``salted_hmac``). The code names the send and the target without the target in it, and a code
that was not made here (a wrong signature, an unknown link or send, a link of another campaign)
answers 404. A click is recorded as the email's are (``campaigns.tracking.tracking_record``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.crypto import salted_hmac
from django.views.decorators.cache import never_cache

from campaigns.models import Send, ShortLink, TrackingEvent
from campaigns.sms_text import SmsCount, links_replace, opt_out_add, sms_count
from campaigns.tracking import ERROR_BAD_LINK, tracking_record
from core.ratelimits import link_rate_limited

SALT = "campaigns.shortlinks"
MAC_LENGTH = 10
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CODE = re.compile(rf"([0-9a-zA-Z]{{1,12}})-([0-9a-zA-Z]{{1,12}})-([0-9a-zA-Z]{{{MAC_LENGTH}}})")
# What a short link looks like while its send is not known yet (the preview counts with it).
SAMPLE_CODE = "2Bi-1-" + "x" * MAC_LENGTH


def _base62(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 62)
        digits = _ALPHABET[rest] + digits
        if not number:
            return digits


def _number(text: str) -> int:
    value = 0
    for char in text:
        value = value * 62 + _ALPHABET.index(char)
    return value


def _mac(send_id: int, link_id: int) -> str:
    digest = salted_hmac(SALT, f"{send_id}.{link_id}", algorithm="sha256").digest()
    return "".join(_ALPHABET[byte % 62] for byte in digest[:MAC_LENGTH])


def short_code(*, send_id: int, link_id: int) -> str:
    """Return the signed code of one link of one send."""
    return f"{_base62(send_id)}-{_base62(link_id)}-{_mac(send_id, link_id)}"


def short_code_read(code: str) -> tuple[int, int] | None:
    """Return (send id, link id) of a code made by ``short_code``, or None for any other."""
    match = _CODE.fullmatch(code)
    if not match:
        return None
    send_id, link_id = _number(match.group(1)), _number(match.group(2))
    if not hmac.compare_digest(match.group(3), _mac(send_id, link_id)):
        return None
    return send_id, link_id


def short_url(code: str) -> str:
    """Return the absolute short URL of a code, on SITE_URL."""
    return f"{settings.SITE_URL}{reverse('short-link', kwargs={'token': code})}"


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


class ShortLinker:
    """Shorten the links of one campaign's texts: each target stored once, its id kept here."""

    def __init__(self, campaign_id: int):
        self.campaign_id = campaign_id
        self.ids: dict[str, int] = {}
        self.prefix, self.suffix = short_url(SAMPLE_CODE).split(SAMPLE_CODE)

    def link_id(self, url: str) -> int:
        """Return the id of the campaign's link to ``url``, stored the first time."""
        known = self.ids.get(url)
        if known is not None:
            return known
        digest = _digest(url)
        link = ShortLink.objects.filter(campaign_id=self.campaign_id, digest=digest).first()
        if link is None:
            try:
                with transaction.atomic():
                    link = ShortLink.objects.create(
                        campaign_id=self.campaign_id, digest=digest, url=url
                    )
            except IntegrityError:  # another worker stored it first
                link = ShortLink.objects.get(campaign_id=self.campaign_id, digest=digest)
        self.ids[url] = link.pk
        return link.pk

    def shorten(self, text: str, *, send_id: int) -> str:
        """Return ``text`` with each http(s) link replaced by its short link for this send."""

        def replace(url: str) -> str:
            code = short_code(send_id=send_id, link_id=self.link_id(url))
            return f"{self.prefix}{code}{self.suffix}"

        return links_replace(text, replace)


def sample_shorten(text: str) -> str:
    """Return ``text`` with each link replaced by a short link as long as a real one (preview)."""
    sample = short_url(SAMPLE_CODE)
    return links_replace(text, lambda url: sample)


@dataclass(frozen=True)
class SmsAsSent:
    """A rendered text as it will go out, its length and parts, and whether the suffix was added."""

    text: str
    count: SmsCount
    suffixed: bool


def sms_as_sent(text: str, *, marketing: bool) -> SmsAsSent:
    """Return a rendered text as it will go out (sample short links while links are shortened,
    the opt-out suffix on a marketing text) with its length and parts, signature included."""
    if settings.CAMPAIGN_TRACKING and settings.SMS_SHORT_LINKS:
        text = sample_shorten(text)
    sent = opt_out_add(text, marketing=marketing)
    return SmsAsSent(sent, sms_count(sent), suffixed=sent != text)


@login_not_required
@never_cache
@link_rate_limited
def short_link_follow(request, token: str):
    """Record a click on the send and redirect to the link's target; 404 for any other code."""
    ids = short_code_read(token)
    if ids is None:
        raise Http404(ERROR_BAD_LINK)
    send_id, link_id = ids
    link = ShortLink.objects.filter(pk=link_id).only("url", "campaign_id").first()
    send = Send.objects.filter(pk=send_id).values_list("campaign_id", flat=True).first()
    if link is None or send is None or send != link.campaign_id:
        raise Http404(ERROR_BAD_LINK)
    tracking_record(send_id=send_id, kind=TrackingEvent.Kind.CLICK, url=link.url)
    return HttpResponseRedirect(link.url)


urlpatterns = [path("s/<str:token>", short_link_follow, name="short-link")]
