"""The SMTP relay: a worker's SMTP conversation in a process of its own.

A worker renders, builds and records in its own threads, and they share one GIL with the
thread that talks to the SMTP server. That thread needs the GIL at each of the four replies of
a message (MAIL, RCPT, DATA, the end of the data) and waited for it behind the others: a worker
sent a fifth to a third fewer messages per second than a bare smtplib loop (bench_send). The
relay does only the conversation, in its own interpreter, on one connection opened as Django's
SMTP backend opens it (``EmailBackend.open``: TLS or SSL, login, the cached local host name).

``Relay`` is the worker's side. It starts ``python -m campaigns.relay`` with pipes and writes it
frames (a 4-byte big-endian length, then a ``marshal``-ed value; both ends are this module):
first the connection settings, answered ``(READY,)`` once connected or ``(BROKEN, error)``; then
``(sender, recipient, data)`` per message, each answered in order. A thread reads the answers
and puts ``(key, None or exception)`` into the worker's queue; ``mark(key)`` puts ``key`` itself
there once the messages before it are answered.

When its input ends (the worker closed it) the relay sends what it has read and quits. When the
worker dies (SIGKILL), the relay stops at the first answer it cannot write: it sends at most the
message it was at, one of those the worker had handed and not recorded (the crash window that
delivery.py keeps). The relay ignores SIGINT (a Ctrl-C in the terminal reaches the whole
process group): the worker decides when it stops.
"""

from __future__ import annotations

import collections
import contextlib
import marshal
import os
import queue
import signal
import smtplib
import struct
import subprocess
import sys
import threading
from pathlib import Path

READY, BROKEN, SENT, FAILED = "ready", "broken", "sent", "failed"
NOT_SENT, MARK = "not_sent", "mark"
_HEADER = struct.Struct("!I")
_ROOT = Path(__file__).resolve().parents[1]
# The exceptions a send can end with that carry an SMTP reply, by the name the relay sends.
_REPLIES = {
    "SMTPSenderRefused": lambda code, reply, sender, recipient: smtplib.SMTPSenderRefused(
        code, reply, sender
    ),
    "SMTPRecipientsRefused": lambda code, reply, sender, recipient: smtplib.SMTPRecipientsRefused(
        {recipient: (code, reply)}
    ),
    "SMTPDataError": lambda code, reply, sender, recipient: smtplib.SMTPDataError(code, reply),
}


class RelayError(Exception):
    """A send that failed without an SMTP reply, as the relay saw it (``name``: its type)."""

    def __init__(self, name: str, text: str):
        super().__init__(text)
        self.name = name


class RelayStopped(Exception):
    """The relay ended before answering: the message may or may not have gone out."""


def _write(stream, value) -> None:
    data = marshal.dumps(value)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read(stream):
    """Return the next value, or raise EOFError when the stream ends (also mid-frame)."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return marshal.loads(data)  # noqa: S302 (frames of this module, from the other end's pipe)


def backend_settings(backend) -> dict:
    """Return what the relay needs to open a connection as Django's SMTP ``backend`` does."""
    names = ("host", "port", "username", "password", "use_tls", "use_ssl", "timeout")
    names += ("ssl_keyfile", "ssl_certfile")
    return {name: getattr(backend, name) for name in names}


class Relay:
    """The worker's side of one relay process: one SMTP connection, answers in order."""

    def __init__(self, backend, outcomes: queue.SimpleQueue):
        self.outcomes = outcomes
        self.broken: Exception | None = None
        self.cancelled = False
        self.pending: collections.deque = collections.deque()  # (key, sender, recipient), in order
        self.lock = threading.Lock()  # the reading thread's end against new messages
        self.ended = False  # the relay answers nothing more: new messages are answered here
        path = [str(_ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "campaigns.relay"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            _write(self.process.stdin, backend_settings(backend))
            answer = _read(self.process.stdout)
        except (EOFError, OSError) as exc:
            self._end()
            self.process.stdout.close()
            raise RelayStopped(f"The SMTP relay did not start: {exc!r}") from exc
        if answer[0] != READY:
            self._end()
            self.process.stdout.close()
            raise RelayError(answer[1], answer[2])
        self.thread = threading.Thread(target=self._run, name="campaign-smtp-relay", daemon=True)
        self.thread.start()

    def submit(self, key, sender: str, recipient: str, data: bytes) -> None:
        """Hand a message to the relay; its outcome comes as ``(key, error or None)``."""
        self._hand((key, sender, recipient), (sender, recipient, data))

    def mark(self, key) -> None:
        """Put ``key`` among the outcomes once the messages handed so far are answered."""
        self._hand((key, None, None), MARK)

    def _hand(self, entry: tuple, frame) -> None:
        with self.lock:
            if self.ended:
                self._answer_stopped(entry)
                return
            self.pending.append(entry)  # before the relay can answer it
        with contextlib.suppress(OSError):  # the relay is gone: the reading thread answers
            _write(self.process.stdin, frame)

    def _answer_stopped(self, entry: tuple) -> None:
        key, sender, _recipient = entry
        if sender is None:  # a mark
            self.outcomes.put(key)
            return
        if self.broken is None:
            self.broken = RelayStopped("The SMTP relay stopped.")
        self.outcomes.put((key, RelayStopped("The SMTP relay stopped before answering.")))

    def close(self, *, cancelled: bool = False) -> None:
        """Let the relay send what it was given and quit; ``cancelled``: stop it at once (what
        it had not sent stays claimed, as with a worker that dies)."""
        if cancelled:
            self.cancelled = True
            self.process.kill()
        self._end()
        self.thread.join()
        self.process.stdout.close()

    def _end(self) -> None:
        with contextlib.suppress(OSError):  # the relay is gone, a last frame not written
            self.process.stdin.close()
        self.process.wait()

    def _run(self) -> None:
        try:
            while True:
                answer = _read(self.process.stdout)
                key, sender, recipient = self.pending.popleft()
                if answer[0] == MARK:
                    self.outcomes.put(key)
                    continue
                self.outcomes.put((key, self._error(answer, sender, recipient)))
        except (EOFError, OSError):
            pass
        with self.lock:
            self.ended = True
            if self.cancelled:  # the worker gave up: the rows stay claimed
                self.pending.clear()
                return
            while self.pending:  # the relay died: nothing more will be answered
                self._answer_stopped(self.pending.popleft())

    def _error(self, answer, sender: str, recipient: str) -> Exception | None:
        kind = answer[0]
        if kind == SENT:
            return None
        if kind == NOT_SENT:
            return RelayNotSent(answer[1])
        _kind, name, text, code, reply, broken = answer
        if broken is not None:
            self.broken = RelayError(broken[0], broken[1])
        if code is not None and name in _REPLIES:
            return _REPLIES[name](code, reply, sender, recipient)
        if code is not None:
            return smtplib.SMTPResponseException(code, reply)
        return RelayError(name, text)


class RelayNotSent(Exception):
    """A message the relay did not try: its connection was lost and could not be reopened."""


# --- the relay process ----------------------------------------------------------------------


def _described(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, str(exc)


def _smtp_reply(exc: BaseException) -> tuple[int | None, bytes]:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        for code, reply in exc.recipients.values():
            return code, reply
        return None, b""
    code = getattr(exc, "smtp_code", None)
    reply = getattr(exc, "smtp_error", b"")
    return code, reply if isinstance(reply, bytes) else str(reply).encode()


def main() -> int:
    """Open the connection the worker describes, then send what it writes until it stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from django.conf import settings

    settings.configure()  # only Django's email backend runs here, with explicit settings
    from django.core.mail.backends.smtp import EmailBackend

    from campaigns.mail import smtp_sendmail

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    try:
        backend = EmailBackend(fail_silently=False, **_read(source))
    except EOFError:  # the worker went away before it said where to connect
        return 0
    try:
        backend.open()
    except Exception as exc:
        _write(sink, (BROKEN, *_described(exc)))
        return 0
    _write(sink, (READY,))
    broken = None
    try:
        while True:
            try:
                frame = _read(source)
            except EOFError:
                break
            if frame == MARK:
                _write(sink, (MARK,))
                continue
            if broken is not None:
                _write(sink, (NOT_SENT, broken[1]))
                continue
            sender, recipient, data = frame
            try:
                smtp_sendmail(backend.connection, sender, recipient, data)
            except Exception as exc:
                code, reply = _smtp_reply(exc)
                if code is None:  # the connection itself failed: open a new one
                    try:
                        backend.close()
                        backend.open()
                    except Exception as again:
                        broken = _described(again)
                _write(sink, (FAILED, *_described(exc), code, reply, broken))
                continue
            _write(sink, (SENT,))
    except BrokenPipeError:  # the worker is gone: send nothing more
        # Python's own flush of stdout at exit would hit the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        with contextlib.suppress(Exception):  # a broken connection: the relay ends anyway
            backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
