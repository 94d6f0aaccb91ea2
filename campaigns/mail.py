"""Campaign email bytes built directly, for sending over the SMTP backend's own connection.

Django's ``EmailMultiAlternatives`` builds each message through the stdlib's ``email`` package
(compat32 policy), which costs far more than the rendering of a campaign email: most of it goes
into RFC 2047 encoding of non-ASCII headers and generating the MIME tree. For the messages a
campaign sends — a subject, a text body, an optional HTML alternative and a few headers of our
own — ``MessageBuilder`` writes the same message as bytes:

- headers in the order Django writes them; non-ASCII values as RFC 2047 encoded words
  (``=?utf-8?b?…?=``, whole characters per word, each line kept short by folding between words);
- ``text/plain`` (and ``text/html`` in a ``multipart/alternative``) in UTF-8 with
  Content-Transfer-Encoding 7bit/8bit, or quoted-printable when a line is longer than RFC 5322's
  998 octets (as Django does);
- CRLF line endings and a random boundary checked against both bodies.

Anything outside that (a non-ASCII address, a header value with a line break or too long to
write on one line) returns None, and the caller builds that message with Django instead, so the
fast path never writes something Django would have refused or written differently in meaning.
``tests/campaigns/test_mail.py`` checks that both parse to the same headers and bodies.

``smtp_sendmail`` then sends such a message to one recipient with the commands, replies and
exceptions of ``smtplib.SMTP.sendmail`` (as Django's backend calls it), without parsing a plain
address again for each MAIL FROM and RCPT TO.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import re
import secrets
import smtplib
import time
from email.utils import formatdate

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.core.mail.message import sanitize_address

RFC5322_LINE_LIMIT = 998  # octets per line, without the CRLF
_FOLD_AT = 78  # fold longer ASCII header lines at spaces (RFC 5322's "SHOULD")
_WORD_BYTES = 39  # UTF-8 bytes per encoded word: 52 base64 characters, a 64-character word
_CRLF = "\r\n"
# A plain address (dot-atom local part and domain): smtplib.quoteaddr() only wraps it in <>.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def smtp_fast_path(backend) -> bool:
    """Return True when ``backend`` is Django's SMTP backend sending through its ``_send``.

    A subclass that overrides how a message is sent (e.g. to sign it) keeps Django's path.
    """
    kind = type(backend)
    return (
        isinstance(backend, SmtpEmailBackend)
        and kind._send is SmtpEmailBackend._send
        and kind.send_messages is SmtpEmailBackend.send_messages
    )


def encoded_words(value: str) -> str:
    """Return ``value`` as RFC 2047 ``=?utf-8?b?…?=`` words, folded between words."""
    data = value.encode("utf-8")
    size = len(data)
    chunks = []
    start = 0
    while start < size:
        end = min(start + _WORD_BYTES, size)
        while end < size and (data[end] & 0xC0) == 0x80:  # never split a character
            end -= 1
        chunks.append(data[start:end])
        start = end
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=" for chunk in chunks
    )


def _fold(line: str) -> str:
    """Fold an ASCII header line longer than 78 characters at its spaces (when it has any)."""
    if len(line) <= _FOLD_AT:
        return line
    out, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > _FOLD_AT:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return "\r\n ".join(out)


def header_line(name: str, value: str) -> str | None:
    """Return ``Name: value`` (folded, encoded if not ASCII), or None if it cannot be written."""
    if "\n" in value or "\r" in value:
        return None
    if value.isascii():
        line = f"{name}: {value}"
        if len(line) > RFC5322_LINE_LIMIT:
            return None
        return _fold(line)
    return f"{name}: {encoded_words(value)}"


def _part(text: str) -> tuple[str, bytes]:
    """Return (Content-Transfer-Encoding, body bytes with CRLF line ends) of a UTF-8 text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode("utf-8")
    if len(data) > RFC5322_LINE_LIMIT and any(
        len(line) > RFC5322_LINE_LIMIT for line in data.split(b"\n")
    ):
        encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
        return "quoted-printable", encoded.replace(b"\n", b"\r\n")
    return ("7bit" if data.isascii() else "8bit"), data.replace(b"\n", b"\r\n")


class MessageBuilder:
    """Build campaign messages from one sender as SMTP-ready bytes (see the module docstring)."""

    def __init__(self, *, from_email: str, encoding: str = "utf-8"):
        self.from_header = header_value_from(from_email, encoding)
        self.envelope_from = sanitize_address(from_email, encoding)
        self.localtime = settings.EMAIL_USE_LOCALTIME
        self._date_second = -1
        self._date = ""
        self._boundary_prefix = f"=_{secrets.token_hex(8)}"
        self._count = 0

    def _date_header(self) -> str:
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = formatdate(now, localtime=self.localtime)
        return self._date

    def _boundary(self, *bodies: bytes) -> str:
        while True:
            self._count += 1
            boundary = f"{self._boundary_prefix}.{self._count}"
            marker = boundary.encode("ascii")
            if not any(marker in body for body in bodies):
                return boundary
            self._boundary_prefix = f"=_{secrets.token_hex(8)}"

    def build(
        self, *, to: str, subject: str, text: str, html: str = "", headers: dict[str, str]
    ) -> bytes | None:
        """Return the message as bytes, or None when Django should build this one."""
        if self.from_header is None or not to.isascii():
            return None
        lines = []
        for name, value in (
            ("Subject", subject),
            ("From", None),
            ("To", to),
            ("Date", self._date_header()),
            *headers.items(),
        ):
            if value is None:
                lines.append(self.from_header)
                continue
            line = header_line(name, value)
            if line is None:
                return None
            lines.append(line)
        text_cte, text_body = _part(text)
        if not html:
            head = [
                'Content-Type: text/plain; charset="utf-8"',
                "MIME-Version: 1.0",
                f"Content-Transfer-Encoding: {text_cte}",
                *lines,
            ]
            return (_CRLF.join(head) + _CRLF + _CRLF).encode("ascii") + text_body
        html_cte, html_body = _part(html)
        boundary = self._boundary(text_body, html_body)
        head = [f'Content-Type: multipart/alternative; boundary="{boundary}"', "MIME-Version: 1.0"]
        head.extend(lines)
        return b"".join(
            (
                (_CRLF.join(head) + _CRLF + _CRLF).encode("ascii"),
                f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
                f"Content-Transfer-Encoding: {text_cte}\r\n\r\n".encode("ascii"),
                text_body,
                f'\r\n--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'
                f"Content-Transfer-Encoding: {html_cte}\r\n\r\n".encode("ascii"),
                html_body,
                f"\r\n--{boundary}--\r\n".encode("ascii"),
            )
        )

    def envelope_to(self, address: str) -> str:
        """Return the envelope recipient of ``address`` as Django's SMTP backend would give it."""
        return address if address.isascii() else sanitize_address(address, "utf-8")


def header_value_from(from_email: str, encoding: str = "utf-8") -> str | None:
    """Return the From header line Django writes for ``from_email``, or None if it cannot."""
    value = sanitize_address(from_email, encoding)  # encodes a non-ASCII display name
    if "\n" in value or "\r" in value:
        value = " ".join(part.strip() for part in value.splitlines())
    if not value.isascii():
        return None
    return header_line("From", value)


def smtp_quoted(address: str) -> str:
    """Return ``address`` as ``smtplib.quoteaddr`` writes it in MAIL FROM and RCPT TO."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return _quoteaddr(address)


@functools.lru_cache(maxsize=64)  # e.g. the envelope sender "Shop <news@shop.example>"
def _quoteaddr(address: str) -> str:
    return smtplib.quoteaddr(address)


def _transaction_abandon(connection: smtplib.SMTP, code: int) -> None:
    if code == 421:  # the server is closing the connection
        connection.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):  # smtplib's _rset()
        connection.rset()


def smtp_sendmail(connection: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """Send ``data`` to one recipient as ``connection.sendmail(sender, [recipient], data)`` does.

    The same commands (SIZE when the server offers it), the same RSET or close after a refusal
    and the same exceptions; only the addresses are quoted by ``smtp_quoted``. When the server
    offers PIPELINING (RFC 2920, as Postfix, Exim and the big providers do), MAIL, RCPT and
    DATA go in one write and their replies are read together: two round trips a message
    instead of four.
    """
    connection.ehlo_or_helo_if_needed()
    options = ""
    if connection.does_esmtp and connection.has_extn("size"):
        options = f" size={len(data)}"
    if connection.does_esmtp and connection.has_extn("pipelining"):
        _sendmail_pipelined(connection, sender, recipient, options, data)
        return
    code, reply = connection.docmd("mail", f"FROM:{smtp_quoted(sender)}{options}")
    if code != 250:
        _transaction_abandon(connection, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = connection.docmd("rcpt", f"TO:{smtp_quoted(recipient)}")
    if code not in (250, 251):
        _transaction_abandon(connection, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = connection.data(data)
    if code != 250:
        _transaction_abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)


_LEADING_PERIOD = re.compile(rb"(?m)^\.")


def _sendmail_pipelined(
    connection: smtplib.SMTP, sender: str, recipient: str, options: str, data: bytes
) -> None:
    """``smtp_sendmail`` on a server that offers PIPELINING: the same replies and exceptions.

    A refused MAIL or RCPT makes the server refuse what follows it in the group too; those
    replies are read (unless the server is closing, 421) before the RSET.
    """
    mail = f"MAIL FROM:{smtp_quoted(sender)}{options}"
    rcpt = f"RCPT TO:{smtp_quoted(recipient)}"
    if any(character in mail + rcpt for character in "\r\n"):  # as smtplib's putcmd()
        raise ValueError("command and arguments contain prohibited newline characters")
    connection.send(f"{mail}\r\n{rcpt}\r\nDATA\r\n")
    code, reply = connection.getreply()
    if code != 250:
        _group_abandon(connection, code, following=2)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = connection.getreply()
    if code not in (250, 251):
        _group_abandon(connection, code, following=1)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = connection.getreply()
    if code != 354:
        _transaction_abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)
    body = _LEADING_PERIOD.sub(b"..", data)  # as smtplib's data() quotes it
    if body[-2:] != b"\r\n":
        body += b"\r\n"
    connection.send(body + b".\r\n")
    code, reply = connection.getreply()
    if code != 250:
        _transaction_abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)


def _group_abandon(connection: smtplib.SMTP, code: int, *, following: int) -> None:
    """Read the replies to the commands sent after a refused one, then RSET (or close)."""
    if code != 421:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            for _ in range(following):
                answer = connection.getreply()[0]
                if answer == 354:  # DATA taken anyway, with no recipient: end it empty
                    connection.send(b".\r\n")
                    answer = connection.getreply()[0]
                if answer == 421:
                    code = 421
                    break
    _transaction_abandon(connection, code)
