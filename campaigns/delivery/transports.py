"""Transports: the way out of a channel, behind one small interface.

    transport.open()                          # connect, unless connected (raises if it cannot)
    transport.send(messages, pace) -> [Outcome]  # one outcome per message, in order
    transport.close()
    transport.broken                          # the error that lost the connection, or None

``send`` takes any iterable of messages (the caller renders each as it is taken), calls
``pace()`` before each message goes (the shared rate limit) and never raises for a message: it
answers why it was not sent. It returns once every message is answered: nothing is in flight
between two calls. ``EmailTransport`` sends through the configured Django email backend
(anymail providers, locmem in tests, …); when that is Django's own SMTP backend it writes the
bytes itself (``campaigns.mail.MessageBuilder``) and speaks SMTP on the backend's connection
with ``smtp_submit``, pipelining MAIL, RCPT and DATA when the server offers PIPELINING, and
reads the server's last reply to a message only once the next message is rendered and built:
one round trip a message is waited for instead of two, with the same bytes on the wire.
``SmsTransport`` sends through the SMS_BACKEND (``campaigns.sms``). Everything runs in the
worker's own thread.
"""

import logging
import smtplib
from collections.abc import Callable, Iterable

from django.core.mail import EmailMultiAlternatives, get_connection

from campaigns.delivery.render import Email
from campaigns.mail import MessageBuilder, smtp_fast_path, smtp_submit
from campaigns.models import Channel
from campaigns.sms import BaseSmsBackend, SmsMessage, get_sms_backend

logger = logging.getLogger(__name__)

ERROR_CONNECTION = "Could not connect to send: {error}"


class Outcome:
    """What became of one message: sent (``error`` empty), or why not and whether for good."""

    __slots__ = ("bounce", "error", "permanent", "provider_id")

    def __init__(self, error: str = "", *, permanent=False, bounce=False, provider_id=""):
        self.error = error
        self.permanent = permanent  # a retry would fail too
        self.bounce = bounce  # the address does not exist: suppress it
        self.provider_id = provider_id  # the provider's id of a sent message, if it gives one


SENT = Outcome()


def not_sent(cause: Exception) -> Outcome:
    """The outcome of a message not tried: no connection (it is tried again later)."""
    return Outcome(ERROR_CONNECTION.format(error=cause))


def smtp_code(exc: Exception) -> int | None:
    """Return the SMTP reply code an exception carries, or None (no reply: a lost connection)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in exc.recipients.values()]
        return codes[0] if codes else None
    return getattr(exc, "smtp_code", None)


def email_outcome(exc: Exception) -> Outcome:
    """Return the outcome of an email whose sending raised ``exc``: a 5xx reply fails for good
    (a refused recipient is a bounce), anything else is tried again."""
    code = smtp_code(exc)
    if code is not None and 500 <= code < 600:
        bounce = isinstance(exc, smtplib.SMTPRecipientsRefused)
        return Outcome(f"{code} {exc}", permanent=True, bounce=bounce)
    return Outcome(f"{type(exc).__name__}: {exc}")


class EmailTransport:
    """Emails through the configured Django email backend, one connection for many batches."""

    def __init__(self):
        self.backend = None
        self.fast = False  # Django's SMTP backend: bytes built here, SMTP spoken here
        self.broken: Exception | None = None
        self._builders: dict[str, MessageBuilder] = {}

    def open(self) -> None:
        """Connect, unless connected and not broken (then nothing to do)."""
        if self.backend is not None and self.broken is None:
            return
        self.close()
        backend = get_connection(fail_silently=False)
        backend.open()
        self.backend, self.fast, self.broken = backend, smtp_fast_path(backend), None

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:  # closing a broken connection must not hide the outcome
                logger.warning("Closing the email connection failed", exc_info=True)

    def send(self, messages: Iterable[Email], pace: Callable[[], None]) -> list[Outcome]:
        if not self.fast:
            return [self._finish(self._start(self._django(email), pace)) for email in messages]
        outcomes: list[Outcome] = []
        going = None  # the last message, its last reply not read yet
        for email in messages:  # rendered now, while the server takes the last message
            job = self._job(email)
            if going is not None:
                outcomes.append(self._finish(going))
            going = self._start(job, pace)
        if going is not None:
            outcomes.append(self._finish(going))
        return outcomes

    def _start(self, job, pace: Callable[[], None]) -> Outcome | Callable[[], None]:
        """Send a message, up to the server's last reply on the SMTP path; return its outcome,
        or what reads that reply (``smtp_submit``)."""
        if self.broken is not None:
            return not_sent(self.broken)
        pace()
        try:
            if isinstance(job, tuple):
                return smtp_submit(self.backend.connection, *job)
            self.backend.send_messages([job])
        except Exception as exc:
            return self._failure(exc)
        return SENT

    def _finish(self, going: Outcome | Callable[[], None]) -> Outcome:
        """Return the outcome of a message ``_start`` sent, reading the server's last reply."""
        if isinstance(going, Outcome):
            return going
        try:
            going()
        except Exception as exc:
            return self._failure(exc)
        return SENT

    def _failure(self, exc: Exception) -> Outcome:
        if smtp_code(exc) is None:  # the connection itself failed: open a new one
            self._reopen()
        return email_outcome(exc)

    def _reopen(self) -> None:
        try:
            self.backend.close()
            self.backend.open()
        except Exception as again:
            self.broken = again

    def _job(self, email: Email):
        """Return what goes on the SMTP connection: (envelope from, recipient, bytes), or the
        Django email when the builder leaves it to Django."""
        builder = self._builders.get(email.from_email)
        if builder is None:
            builder = self._builders[email.from_email] = MessageBuilder(from_email=email.from_email)
        data = builder.build(
            to=email.to,
            subject=email.subject,
            text=email.text,
            html=email.html,
            headers=email.headers,
        )
        if data is None:
            return self._django(email)
        return (builder.envelope_from, builder.envelope_to(email.to), data)

    def _django(self, email: Email) -> EmailMultiAlternatives:
        """Return the email as Django builds it (other backends, or what the builder leaves)."""
        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.text,
            from_email=email.from_email,
            to=[email.to],
            headers=email.headers,
            connection=self.backend,
        )
        if email.html:
            message.attach_alternative(email.html, "text/html")
        return message


class SmsTransport:
    """SMS through the SMS_BACKEND: a group of messages per call, one result each."""

    def __init__(self):
        self.backend: BaseSmsBackend | None = None
        self.broken: Exception | None = None

    def open(self) -> None:
        """Open the SMS backend, unless it is open."""
        if self.backend is not None:
            return
        backend = get_sms_backend()
        backend.open()
        self.backend = backend

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.close()

    def send(self, messages: Iterable[SmsMessage], pace: Callable[[], None]) -> list[Outcome]:
        messages = list(messages)  # one call to the backend for the group
        for _message in messages:
            pace()
        try:
            results = self.backend.send_messages(messages)
        except Exception as exc:
            return [Outcome(f"{type(exc).__name__}: {exc}")] * len(messages)
        return [
            Outcome(provider_id=result.provider_id or message.reference)
            if result.ok
            else Outcome(result.error or "SMS not sent", permanent=result.permanent)
            for message, result in zip(messages, results, strict=False)
        ]


def transport_for(channel: str) -> EmailTransport | SmsTransport:
    """Return a transport (not open yet) for ``channel``."""
    return SmsTransport() if channel == Channel.SMS else EmailTransport()
