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

Frames travel in runs, not one write and one wake-up each: the worker writes a message at once
only while the relay has few (``_LOW``) written and unanswered, and otherwise adds it to a run
written when it holds ``_RUN`` frames or when the relay's answers bring it down to ``_LOW`` (so
the relay never waits for a frame the worker holds). The relay reads what the pipe holds in one
read and writes its answers when ``_RUN`` are waiting, the oldest has waited ``_HOLD_SECONDS``
(a slow server), or it has nothing more to read.

When its input ends (the worker closed it) the relay sends what it has read and quits. When the
worker dies (SIGKILL), the relay stops at the first answer it cannot write, or before the next
message when the answers it holds back have no reader: it sends at most the message it was at,
one of those the worker had handed and not recorded (the crash window that delivery.py keeps).
The relay ignores SIGINT (a Ctrl-C in the terminal reaches the whole process group): the worker
decides when it stops.
"""

from __future__ import annotations

import collections
import contextlib
import marshal
import os
import queue
import select
import signal
import smtplib
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

READY, BROKEN, SENT, FAILED = "ready", "broken", "sent", "failed"
NOT_SENT, MARK = "not_sent", "mark"
_HEADER = struct.Struct("!I")
_RUN = 8  # frames (messages or answers) written together at most, when there are more
_LOW = 2  # the worker writes at once while the relay has at most this many unanswered
_HOLD_SECONDS = 0.02  # the relay holds an answer back this long at most (a slow server)
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


def _frame(value) -> bytes:
    data = marshal.dumps(value)
    return _HEADER.pack(len(data)) + data


def _write(stream, value) -> None:
    stream.write(_frame(value))
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


class _Frames:
    """The relay's input: frames read from a pipe, as many at a time as it holds."""

    def __init__(self, fd: int):
        self.fd = fd
        self.data = bytearray()

    def _complete(self) -> bool:
        if len(self.data) < _HEADER.size:
            return False
        return len(self.data) >= _HEADER.size + _HEADER.unpack_from(self.data)[0]

    def waiting(self) -> bool:
        """Return True if a frame can be read now without waiting for the worker."""
        if self._complete():
            return True
        return bool(select.select([self.fd], [], [], 0)[0])

    def read(self):
        """Return the next value, or raise EOFError when the pipe ends (also mid-frame)."""
        while not self._complete():
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError
            self.data += chunk
        size = _HEADER.unpack_from(self.data)[0]
        end = _HEADER.size + size
        value = marshal.loads(bytes(self.data[_HEADER.size : end]))  # noqa: S302 (as _read)
        del self.data[:end]
        return value


class Relay:
    """The worker's side of one relay process: one SMTP connection, answers in order."""

    def __init__(self, backend, outcomes: queue.SimpleQueue):
        self.outcomes = outcomes
        self.broken: Exception | None = None
        self.cancelled = False
        self.pending: collections.deque = collections.deque()  # (key, sender, recipient), in order
        self.lock = threading.Lock()  # the reading thread's end against new messages
        self.ended = False  # the relay answers nothing more: new messages are answered here
        self.run: list[bytes] = []  # frames handed, not written yet (``pending`` has them)
        self.writing = threading.Lock()  # one writer at a time, runs in order
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
        data = _frame(frame)
        with self.lock:
            if self.ended:
                self._answer_stopped(entry)
                return
            self.pending.append(entry)  # before the relay can answer it
            self.run.append(data)
            now = frame is MARK or len(self.run) >= _RUN or self._low()
        if now:
            self._flush()

    def _low(self) -> bool:
        """Return True when the relay has at most ``_LOW`` frames written and unanswered."""
        return len(self.pending) - len(self.run) <= _LOW

    def _flush(self) -> None:
        """Write the frames handed so far (from the worker, or the reading thread when the
        relay runs low), in order."""
        with self.writing:
            with self.lock:
                run, self.run = self.run, []
            if run:
                with contextlib.suppress(OSError):  # the relay is gone: the reader answers
                    self.process.stdin.write(b"".join(run))
                    self.process.stdin.flush()

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
        else:
            self._flush()
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
                if self.run and self._low():
                    self._flush()
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


class _Answers:
    """The relay's answers, held back and written together (see the module docstring)."""

    def __init__(self, sink):
        self.sink = sink
        self.held: list[bytes] = []
        self.since = 0.0  # when the oldest answer held was made

    def add(self, value) -> None:
        if not self.held:
            self.since = time.monotonic()
        self.held.append(_frame(value))

    def due(self, source: _Frames) -> bool:
        """Return True when the answers held should be written before the next frame."""
        return bool(self.held) and (
            len(self.held) >= _RUN
            or time.monotonic() - self.since > _HOLD_SECONDS
            or not source.waiting()
        )

    def write(self) -> None:
        if self.held:
            self.sink.write(b"".join(self.held))
            self.sink.flush()
            self.held.clear()


def main() -> int:
    """Open the connection the worker describes, then send what it writes until it stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from django.conf import settings

    settings.configure()  # only Django's email backend runs here, with explicit settings
    from django.core.mail.backends.smtp import EmailBackend

    from campaigns.mail import smtp_sendmail

    source, sink = _Frames(sys.stdin.fileno()), sys.stdout.buffer
    try:
        backend = EmailBackend(fail_silently=False, **source.read())
    except EOFError:  # the worker went away before it said where to connect
        return 0
    try:
        backend.open()
    except Exception as exc:
        _write(sink, (BROKEN, *_described(exc)))
        return 0
    _write(sink, (READY,))
    broken = None
    answers = _Answers(sink)
    worker = select.poll()  # POLLERR on our answers' pipe: the worker is gone
    worker.register(sink.fileno(), 0)
    try:
        while True:
            if answers.due(source):
                answers.write()
            try:
                frame = source.read()
            except EOFError:
                break
            if frame == MARK:
                answers.add((MARK,))
                continue
            if broken is not None:
                answers.add((NOT_SENT, broken[1]))
                continue
            sender, recipient, data = frame
            if answers.held and worker.poll(0):  # answers held back: nobody will read them
                raise BrokenPipeError
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
                answers.add((FAILED, *_described(exc), code, reply, broken))
                continue
            answers.add((SENT,))
        answers.write()
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
