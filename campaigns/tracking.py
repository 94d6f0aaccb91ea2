"""Email tracking: signed open pixels and click redirects, and the email provider's webhooks.

Links in a message's HTML are rewritten when it is rendered to ``/campaigns/t/c/<token>/``; the
token is signed (``django.core.signing``, a salt per kind) and carries the send's id and the
target URL, so the redirect only ever goes where the message pointed: a forged or altered token
answers 400 and redirects nowhere. The pixel's token carries the send's id only. Every open and
click is stored (``TrackingEvent``); unique opens and clicks are counted per send by the results.

Webhooks of the email provider arrive through django-anymail's ``tracking`` signal; each event is
matched to its send by our Message-ID (``<send-{id}.c{campaign}@domain>``) and stored once per
provider event id. A hard bounce suppresses the address; a spam complaint suppresses it and
records a withdrawal of email marketing consent.
"""

from __future__ import annotations

import html
import json
import logging
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from campaigns.hooks import (
    ENGAGEMENT_KINDS,
    EngagementRecord,
    engagement_active,
    engagement_notify,
)
from campaigns.models import Channel, Send, Suppression, TrackingEvent
from core.hostile import nul_allowed
from core.ratelimits import link_rate_limited
from core.webhooks import timestamp_fresh
from profiles.models import ConsentPurpose, ConsentSource, ConsentStatus
from profiles.services.consent import ConsentEntry, consent_record
from profiles.services.consent_links import BatchSigner
from profiles.services.traces import PersonalTraces

logger = logging.getLogger(__name__)

OPEN_SALT = "campaigns.tracking.open"
CLICK_SALT = "campaigns.tracking.click"
ERROR_BAD_LINK = gettext_noop("This link is not valid.")

# 1x1 transparent GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"send-(\d+)\.c(\d+)@")


# --- signed URLs -------------------------------------------------------------------------------


def _absolute(route: str) -> str:
    return f"{settings.SITE_URL}{route}"


def open_url(*, send_id: int) -> str:
    """Return the signed URL of the open pixel of one send."""
    token = signing.dumps(send_id, salt=OPEN_SALT)
    return _absolute(reverse("campaigns:track-open", kwargs={"token": token}))


def click_url(*, send_id: int, url: str) -> str:
    """Return the signed redirect URL of one link of one send."""
    token = signing.dumps({"s": send_id, "u": url}, salt=CLICK_SALT, compress=True)
    return _absolute(reverse("campaigns:track-click", kwargs={"token": token}))


def _trackable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


class Tracker:
    """Track the links of many messages (a send batch): signers and URL prefixes made once.

    Gives the same URLs as ``open_url`` and ``click_url`` (the same salts, payloads and
    routes), without a ``reverse()`` and a new signer per link (a ``BatchSigner`` per kind).
    """

    _SAMPLE = "SAMPLE-token_0:1.x"  # every kind of character a token holds

    def __init__(self):
        self.open_signer = BatchSigner(salt=OPEN_SALT)
        self.click_signer = BatchSigner(salt=CLICK_SALT)
        self.open_route = self._template("campaigns:track-open")
        self.click_route = self._template("campaigns:track-click")

    def _template(self, name: str) -> tuple[str, str]:
        url = _absolute(reverse(name, kwargs={"token": self._SAMPLE}))
        prefix, found, suffix = url.partition(self._SAMPLE)
        if not found:  # the route changes the token: fall back to reverse() per link
            return ("", name)
        return (prefix, suffix)

    @staticmethod
    def _url(template: tuple[str, str], token: str) -> str:
        prefix, rest = template
        if not prefix:
            return _absolute(reverse(rest, kwargs={"token": token}))
        return f"{prefix}{token}{rest}"

    def open_url(self, *, send_id: int) -> str:
        """Return the signed URL of the open pixel of one send (as ``open_url``)."""
        return self._url(self.open_route, self.open_signer.sign_object(send_id))

    def click_url(self, *, send_id: int, url: str) -> str:
        """Return the signed redirect URL of one link of one send (as ``click_url``)."""
        token = self.click_signer.sign_object({"s": send_id, "u": url}, compress=True)
        return self._url(self.click_route, token)


class _Links:
    """The module's functions, for ``html_track`` without a ``Tracker``."""

    open_url = staticmethod(open_url)
    click_url = staticmethod(click_url)


def html_track(
    body: str,
    *,
    send_id: int,
    keep: frozenset[str] | set[str] = frozenset(),
    tracker: Tracker | None = None,
) -> str:
    """Return ``body`` with its http(s) links going through click redirects, plus the pixel.

    Links whose target is in ``keep`` (the unsubscribe and preference links) stay as they are.
    A ``Tracker`` makes the URLs of a whole batch faster; the result is the same.
    """
    if not body:
        return body
    links = tracker or _Links

    def rewrite(match: re.Match) -> str:
        prefix, quote, value = match.groups()
        target = html.unescape(value).strip()
        if target in keep or not _trackable(target):
            return match.group(0)
        tracked = html.escape(links.click_url(send_id=send_id, url=target), quote=True)
        return f"{prefix}{quote}{tracked}{quote}"

    tracked = _HREF.sub(rewrite, body)
    pixel = (
        f'<img src="{html.escape(links.open_url(send_id=send_id), quote=True)}" width="1" '
        'height="1" alt="" style="display:none">'
    )
    parts = _BODY_END.split(tracked, maxsplit=1)
    if len(parts) == 2:
        return f"{parts[0]}{pixel}</body>{parts[1]}"
    return tracked + pixel


# --- recording ---------------------------------------------------------------------------------


def tracking_record(
    *, send_id: int, kind: str, url: str = "", event_id: str | None = None, at=None
) -> TrackingEvent | None:
    """Store one tracking event; return None when ``event_id`` was already recorded.

    An open, click or delivery is passed to ``campaigns.hooks``' receivers on commit.
    """
    try:
        with transaction.atomic():
            event = TrackingEvent.objects.create(
                send_id=send_id,
                kind=kind,
                url=url,
                provider_event_id=event_id or None,
                at=at or timezone.now(),
            )
            if kind in ENGAGEMENT_KINDS and engagement_active():
                _engagement_notify(event)
            return event
    except IntegrityError:
        if event_id and TrackingEvent.objects.filter(provider_event_id=event_id).exists():
            return None
        raise


def _engagement_notify(event: TrackingEvent) -> None:
    campaign_id, profile_id = Send.objects.values_list("campaign_id", "profile_id").get(
        pk=event.send_id
    )
    engagement_notify(
        EngagementRecord(
            send_id=event.send_id,
            campaign_id=campaign_id,
            profile_id=profile_id,
            kind=str(event.kind),
            at=event.at,
        )
    )


@login_not_required
@never_cache
@link_rate_limited
def track_open(request, token: str):
    """Record an open and answer the 1x1 pixel; 404 for a forged token."""
    try:
        send_id = int(signing.loads(token, salt=OPEN_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        raise Http404(ERROR_BAD_LINK) from None
    if not Send.objects.filter(pk=send_id).exists():
        raise Http404(ERROR_BAD_LINK)
    tracking_record(send_id=send_id, kind=TrackingEvent.Kind.OPEN)
    return HttpResponse(PIXEL, content_type="image/gif")


def _bad_link(request, *, status: int):
    """Answer a link that cannot be followed with a page in the reader's language."""
    context = {"title": _(ERROR_BAD_LINK)}
    return render(request, "profiles/public/invalid.html", context, status=status)


@login_not_required
@never_cache
@link_rate_limited
def track_click(request, token: str):
    """Record a click and redirect to the link's signed target; 400 for a forged token."""
    try:
        data = signing.loads(token, salt=CLICK_SALT)
        send_id, url = int(data["s"]), str(data["u"])
    except (signing.BadSignature, TypeError, ValueError, KeyError):
        return _bad_link(request, status=400)
    if not _trackable(url):
        return _bad_link(request, status=400)
    if not Send.objects.filter(pk=send_id).exists():
        return _bad_link(request, status=404)
    tracking_record(send_id=send_id, kind=TrackingEvent.Kind.CLICK, url=url)
    return HttpResponseRedirect(url)


urlpatterns = [
    path("t/o/<str:token>/", track_open, name="track-open"),
    path("t/c/<str:token>/", track_click, name="track-click"),
]


# --- provider webhooks (django-anymail) --------------------------------------------------------

_KINDS = {
    "delivered": TrackingEvent.Kind.DELIVERED,
    "bounced": TrackingEvent.Kind.BOUNCE,
    "complained": TrackingEvent.Kind.COMPLAINT,
    "opened": TrackingEvent.Kind.OPEN,
    "clicked": TrackingEvent.Kind.CLICK,
}


def send_for_message_id(message_id: str | None) -> Send | None:
    """Return the send whose Message-ID is ``message_id`` (with or without angle brackets)."""
    match = _MESSAGE_ID.search(message_id or "")
    if not match:
        return None
    send = Send.objects.filter(pk=int(match.group(1)), campaign_id=int(match.group(2))).first()
    if send is None or send.message_id.strip("<>") != (message_id or "").strip().strip("<>"):
        return None
    return send


def provider_event_record(
    *,
    event_type: str,
    message_id: str | None,
    event_id: str | None = None,
    timestamp=None,
    recipient: str | None = None,
    click_url: str | None = None,
    description: str = "",
) -> TrackingEvent | None:
    """Record a provider's event for one of our sends; apply bounces and complaints.

    Return the stored event, or None when the event is of no interest, not for one of our
    messages, or was already recorded (same ``event_id``).
    """
    kind = _KINDS.get(event_type)
    if kind is None:
        return None
    send = send_for_message_id(message_id)
    if send is None:
        logger.info("Tracking event %s for an unknown message %r", event_type, message_id)
        return None
    with transaction.atomic():
        event = tracking_record(
            send_id=send.pk, kind=kind, url=click_url or "", event_id=event_id, at=timestamp
        )
        if event is None:
            return None
        if kind in (TrackingEvent.Kind.BOUNCE, TrackingEvent.Kind.COMPLAINT):
            _suppress(send, kind, recipient, description)
        if kind == TrackingEvent.Kind.COMPLAINT:
            _withdraw_email_consent(send, _without_addresses(description, recipient, send))
    return event


def _suppress(send: Send, kind: str, recipient: str | None, description: str) -> None:
    address = (recipient or send.address or "").strip().lower()
    if not address:
        return
    reason = (
        Suppression.Reason.COMPLAINT
        if kind == TrackingEvent.Kind.COMPLAINT
        else Suppression.Reason.HARD_BOUNCE
    )
    Suppression.objects.bulk_create(
        [
            Suppression(
                channel=Channel.EMAIL, address=address, reason=reason, detail=description[:2000]
            )
        ],
        ignore_conflicts=True,
    )


def _without_addresses(description: str, recipient: str | None, send: Send) -> str:
    """Return the provider's description without the recipient's address: it goes into the
    consent ledger, which nothing (erasure included) may change later."""
    for address in {recipient or "", send.address}:
        if address:
            description = PersonalTraces.of(email=address, phone="").scrub(description)
    return description


def _withdraw_email_consent(send: Send, description: str) -> None:
    consent_record(
        entry=ConsentEntry(
            profile_id=send.profile_id,
            channel=Channel.EMAIL,
            purpose=ConsentPurpose.MARKETING,
            status=ConsentStatus.WITHDRAWN,
            source=ConsentSource.COMPLAINT,
            evidence=(f"{send.message_id} {description}").strip()[:2000],
        )
    )


def anymail_tracking_received(sender, event, esp_name, **kwargs) -> None:
    """Receive django-anymail's ``tracking`` signal (connected in ``CampaignsConfig.ready``)."""
    provider_event_record(
        event_type=event.event_type,
        message_id=event.message_id,
        event_id=f"{esp_name}:{event.event_id}" if event.event_id else None,
        timestamp=event.timestamp,
        recipient=event.recipient,
        click_url=event.click_url,
        description=" ".join(
            str(part)
            for part in (event.reject_reason, event.description, event.mta_response)
            if part
        ),
    )


ERROR_MAILGUN_NOT_CONFIGURED = gettext_noop(
    "Mailgun's events are not accepted: set ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY first."
)


def mailgun_signing_key() -> str:
    """Return Mailgun's webhook signing key, or "" when it is not configured."""
    anymail = getattr(settings, "ANYMAIL", None) or {}
    return anymail.get("MAILGUN_WEBHOOK_SIGNING_KEY") or anymail.get("WEBHOOK_SIGNING_KEY") or ""


def _mailgun_tracking():
    """Return the Mailgun tracking view, refusing every call (403) while its key is unset."""
    anymail_view = _mailgun_view().as_view()  # also refuses signatures that are not fresh

    @nul_allowed  # anymail reads the body itself; a call it cannot verify is refused there
    @csrf_exempt
    def view(request, *args, **kwargs):
        if not mailgun_signing_key():
            return JsonResponse({"error": _(ERROR_MAILGUN_NOT_CONFIGURED)}, status=403)
        return anymail_view(request, *args, **kwargs)

    return view


def anymail_webhook_urlpatterns() -> list:
    """Return the provider tracking webhook URLs, open to the provider (no login).

    Mailgun reports our Message-ID with each event, so its events match our sends; it signs
    each call and its time with the webhook signing key (ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY),
    and a call signed more than WEBHOOK_MAX_AGE_SECONDS away from now is refused. Other
    providers' django-anymail views can be added here the same way.
    """
    return [
        path(
            "mailgun/tracking/",
            login_not_required(_mailgun_tracking()),
            name="mailgun_tracking_webhook",
        )
    ]


def _mailgun_view():
    """Return django-anymail's Mailgun tracking view, refusing calls whose signature is stale."""
    from anymail.exceptions import AnymailWebhookValidationFailure
    from anymail.webhooks.mailgun import MailgunTrackingWebhookView

    class FreshMailgunTrackingView(MailgunTrackingWebhookView):
        def validate_request(self, request):
            super().validate_request(request)  # the signature of (timestamp, token)
            if request.content_type == "application/json":
                timestamp = json.loads(request.body)["signature"]["timestamp"]
            else:
                timestamp = request.POST["timestamp"]
            if not timestamp_fresh(timestamp):
                raise AnymailWebhookValidationFailure("Mailgun webhook signed too long ago")

    return FreshMailgunTrackingView
