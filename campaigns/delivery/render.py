"""Render a claimed row into the message its channel sends: content, links, headers, tracking.

The variant's compiled templates get the profile's context and the consent links (one signed
token for both URLs). An email gets its Message-ID (``message_id_make``, also how replies and
bounces find the row), List-Unsubscribe headers (RFC 8058 one-click when there is a URL) and,
with CAMPAIGN_TRACKING, tracked links and an open pixel in its HTML. Transports turn the
result into bytes on the wire.
"""

import functools
from email.utils import parseaddr

from django.conf import settings
from django.core.mail.utils import DNS_NAME
from django.urls import NoReverseMatch

from campaigns.channels import channel_get
from campaigns.channels.sms_template import sms_message
from campaigns.delivery.ledger import Row
from campaigns.models import Campaign
from campaigns.services.channel_content import fields_compile
from campaigns.services.content import variant_compile
from campaigns.services.sender import from_email_check
from campaigns.shortlinks import ShortLinker
from campaigns.sms import SmsMessage
from campaigns.sms_text import opt_out_add, sms_count
from campaigns.tracking import Tracker, html_track
from profiles.services.consent_links import ConsentLinker


class Email:
    """An email to send: one recipient, a subject, a text body, optional HTML, headers."""

    __slots__ = ("from_email", "headers", "html", "message_id", "subject", "text", "to")

    def __init__(self, *, from_email, to, subject, text, html, headers, message_id):
        self.from_email = from_email
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.headers = headers
        self.message_id = message_id


class NotRendered(Exception):
    """A row whose template cannot render for this profile."""


NO_LINKS = {"unsubscribe_url": "", "preferences_url": ""}


class Links:
    """A campaign's consent links: one signed token per message for both URLs."""

    def __init__(self, campaign: Campaign):
        try:
            self.linker = ConsentLinker(
                channel=channel_get(campaign.channel).consent_for(campaign),
                purpose=campaign.purpose,
            )
        except NoReverseMatch:  # the public consent pages are not routed in this deployment
            self.linker = None

    def __call__(self, profile_id: int) -> dict[str, str]:
        if self.linker is None:
            return {"unsubscribe_url": "", "preferences_url": ""}
        unsubscribe, preferences = self.linker.urls(profile_id)
        return {"unsubscribe_url": unsubscribe, "preferences_url": preferences}


@functools.lru_cache(maxsize=64)
def _message_id_domain(from_email: str) -> str:
    return parseaddr(from_email)[1].rpartition("@")[2] or str(DNS_NAME)


def message_id_make(*, send, from_email: str) -> str:
    """Return the Message-ID of a ledger row's email: ``<send-{id}.c{campaign}@{domain}>``."""
    return f"<send-{send.pk}.c{send.campaign_id}@{_message_id_domain(from_email)}>"


def _unsubscribe_header(url: str) -> str:
    targets = [f"<{url}>"] if url else []
    if settings.CAMPAIGN_UNSUBSCRIBE_MAILTO:
        targets.append(f"<mailto:{settings.CAMPAIGN_UNSUBSCRIBE_MAILTO}?subject=unsubscribe>")
    return ", ".join(targets)


class Renderer:
    """Render a campaign's rows, one message each (``email`` or ``sms`` by its channel)."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.spec = channel_get(campaign.channel)
        self.links = Links(campaign)
        self.from_email = campaign.from_email or settings.DEFAULT_FROM_EMAIL
        # A sender saved before it was checked: no message of this campaign can be built.
        self.sender_error = from_email_check(campaign.from_email) if campaign.from_email else None
        self.tracker = Tracker() if settings.CAMPAIGN_TRACKING else None
        self.marketing = campaign.purpose == "marketing"
        short_links = settings.CAMPAIGN_TRACKING and settings.SMS_SHORT_LINKS
        self.short_links = ShortLinker(campaign.pk) if short_links else None

    def _content(self, row: Row, links: dict[str, str] | None = None):
        """Render the row's variant; ``links`` None: sign the consent links only when its
        templates use them (an SMS names them rarely; two signatures a message otherwise)."""
        if self.sender_error:
            raise NotRendered(f"{self.sender_error} ({self.from_email})")
        try:
            compiled = variant_compile(campaign=self.campaign, variant=row.variant)
            if links is None:
                links = self.links(row.profile_id) if compiled.uses_links else NO_LINKS
            return compiled.render({**row.context, **links})
        except Exception as exc:  # a template that cannot render this profile
            raise NotRendered(str(exc)) from exc

    def email(self, row: Row) -> Email:
        """Return the row's email; raise ``NotRendered`` if its template cannot render it."""
        links = self.links(row.profile_id)
        rendered = self._content(row, links)
        message_id = message_id_make(send=row, from_email=self.from_email)
        headers = {"Message-ID": message_id}
        unsubscribe = _unsubscribe_header(links["unsubscribe_url"])
        if unsubscribe:
            headers["List-Unsubscribe"] = unsubscribe
            if links["unsubscribe_url"]:
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        html = rendered.html
        if html and self.tracker is not None:
            keep = {url for url in links.values() if url}
            html = html_track(html, send_id=row.pk, keep=keep, tracker=self.tracker)
        return Email(
            from_email=self.from_email,
            to=row.address,
            subject=rendered.subject,
            text=rendered.text,
            html=html or "",
            headers=headers,
            message_id=message_id,
        )

    def fields(self, row: Row) -> dict:
        """Return the row's content parts rendered (the channels that declare ``content``);
        raise ``NotRendered`` if a template cannot render for this profile."""
        try:
            compiled = fields_compile(self.spec, row.variant.fields if row.variant else {})
            context = {**row.context, **(self.links(row.profile_id) if compiled.uses_links else {})}
            return compiled.render(context)
        except Exception as exc:  # a template that cannot render this profile
            raise NotRendered(str(exc)) from exc

    def sms(self, row: Row) -> SmsMessage:
        """Return the row's SMS (links shortened, a marketing text with its opt-out suffix, its
        parts noted on the row); raise ``NotRendered`` if its template cannot render it."""
        rendered = self._content(row)
        text = rendered.text
        if self.short_links is not None:
            text = self.short_links.shorten(text, send_id=row.pk)
        text = opt_out_add(text, marketing=self.marketing)
        row.parts = sms_count(text).parts
        # A provider template (Aliyun, Tencent Cloud): its code and parameters, rendered.
        fields = self.fields(row) if row.variant is not None and row.variant.fields else None
        return sms_message(to=row.address, reference=f"send-{row.pk}", text=text, fields=fields)
