"""Transports: the way out of a channel, behind one small interface.

    transport.open()                          # connect, unless connected (raises if it cannot)
    transport.send(messages, pace) -> [Outcome]  # one outcome per message, in order
    transport.close()
    transport.broken                          # the error that lost the connection, or None

``send`` calls ``pace()`` before each message goes (the shared rate limit) and never raises
for a message: it answers why it was not sent. ``EmailTransport`` sends through the
configured Django email backend (anymail providers, locmem in tests, …); when that is
Django's own SMTP backend it writes the bytes itself (``campaigns.mail.MessageBuilder``) and
speaks SMTP on the backend's connection with ``smtp_sendmail``, pipelining MAIL, RCPT and DATA
when the server offers PIPELINING. ``SmsTransport`` sends through the SMS_BACKEND
(``campaigns.sms``). Everything runs in the worker's own thread.
"""

import logging
import smtplib
from collections.abc import Callable, Sequence

from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.translation import gettext_noop

from campaigns.channels import channel_get
from campaigns.delivery.render import Email
from campaigns.mail import MessageBuilder, smtp_fast_path, smtp_sendmail
from campaigns.sms import BaseSmsBackend, SmsMessage, get_sms_backend
from core.errors import coded

logger = logging.getLogger(__name__)

ERROR_CONNECTION = coded("send.connection", gettext_noop("Could not connect to send: {error}"))


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
    return Outcome(ERROR_CONNECTION.dumps(error=cause))


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

    def send(self, messages: Sequence[Email], pace: Callable[[], None]) -> list[Outcome]:
        return [self._send(message, pace) for message in messages]

    def _send(self, email: Email, pace: Callable[[], None]) -> Outcome:
        if self.broken is not None:
            return not_sent(self.broken)
        try:
            data = self._bytes(email) if self.fast else None
        except (ValueError, TypeError, UnicodeError) as exc:  # it can never be built: say why
            return Outcome(f"{type(exc).__name__}: {exc}", permanent=True)
        pace()
        try:
            if data is not None:
                builder = self._builders[email.from_email]
                recipient = builder.envelope_to(email.to)
                smtp_sendmail(self.backend.connection, builder.envelope_from, recipient, data)
            else:
                self.backend.send_messages([self._django(email)])
        except Exception as exc:
            if smtp_code(exc) is None:  # the connection itself failed: open a new one
                self._reopen()
            return email_outcome(exc)
        return SENT

    def _reopen(self) -> None:
        try:
            self.backend.close()
            self.backend.open()
        except Exception as again:
            self.broken = again

    def _bytes(self, email: Email) -> bytes | None:
        builder = self._builders.get(email.from_email)
        if builder is None:
            builder = self._builders[email.from_email] = MessageBuilder(from_email=email.from_email)
        return builder.build(
            to=email.to,
            subject=email.subject,
            text=email.text,
            html=email.html,
            headers=email.headers,
        )

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

    def send(self, messages: Sequence[SmsMessage], pace: Callable[[], None]) -> list[Outcome]:
        for _message in messages:
            pace()
        try:
            results = self.backend.send_messages(messages)
        except Exception as exc:
            return [Outcome(f"{type(exc).__name__}: {exc}")] * len(messages)
        return [
            Outcome(provider_id=result.provider_id or message.reference)
            if result.ok
            else Outcome(
                result.error or "SMS not sent", permanent=result.permanent, bounce=result.bounce
            )
            for message, result in zip(messages, results, strict=False)
        ]


def transport_for(channel: str):
    """Return a transport (not open yet) for ``channel`` (see ``campaigns.channels``)."""
    return channel_get(channel).transport()
