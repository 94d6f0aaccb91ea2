"""A loopback SMTP server (aiosmtpd) that records what it receives, in-process or as a subprocess.

In a test, ``SmtpSink`` runs in a thread and keeps ``ReceivedMessage`` objects in memory. As a
subprocess, for Celery worker processes and benchmarks::

    python -m tools.smtp_sink --port 0 --out FILE [--count-only [--no-pipelining]]
        [--delay 0.01]

prints ``READY <port>`` once it listens, then appends one JSON line per message to FILE (flushed
every 0.1 s, never fsynced; ``at`` is when it was taken, in seconds since the epoch), or with
``--count-only`` parses nothing and keeps the number of messages received in FILE (rewritten
every 0.1 s). ``--delay`` holds each message that long before accepting it, so a test can kill a
sender mid-batch. SIGTERM or SIGINT stops it cleanly.
"""

import argparse
import asyncio
import contextlib
import email.message
import email.policy
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

FLUSH_SECONDS = 0.1
# aiosmtpd logs every command at INFO: costly at thousands of messages, and noise in a report.
logging.getLogger("mail.log").setLevel(logging.WARNING)
SERVER_NAME = "sink.test"


class ReceivedMessage:
    """One message as the server took it: the envelope, the raw data (parsed on first use) and
    when it was taken (``at``, seconds since the epoch)."""

    def __init__(self, mail_from: str, rcpt_tos: list[str], data: bytes, at: float | None = None):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data
        self.at = time.time() if at is None else at

    def __repr__(self):
        return f"<ReceivedMessage to {self.rcpt_tos} {self.message_id}>"

    @functools.cached_property
    def parsed(self) -> email.message.EmailMessage:
        return BytesParser(policy=email.policy.default).parsebytes(self.data)

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """Return the decoded headers by lower-case name; the first of repeated headers wins."""
        headers: dict[str, str] = {}
        for name, value in self.parsed.items():
            headers.setdefault(name.lower(), str(value))
        return headers

    @property
    def message_id(self) -> str:
        return self.headers.get("message-id", "")

    @property
    def text(self) -> str:
        return self._body("text/plain")

    @property
    def html(self) -> str:
        return self._body("text/html")

    def _body(self, kind: str) -> str:
        for part in self.parsed.walk():
            if not part.is_multipart() and part.get_content_type() == kind:
                return part.get_content()
        return ""

    def to_json(self) -> str:
        data = self.data.decode("latin-1")  # lossless for any bytes
        fields = {"mail_from": self.mail_from, "rcpt_tos": self.rcpt_tos, "at": self.at}
        return json.dumps({**fields, "data": data})

    @classmethod
    def from_json(cls, line: str) -> "ReceivedMessage":
        fields = json.loads(line)
        data = fields["data"].encode("latin-1")
        return cls(fields["mail_from"], fields["rcpt_tos"], data, fields.get("at"))


def read_messages(path: str | Path) -> list[ReceivedMessage]:
    """Return the messages a sink subprocess wrote to ``path`` (complete lines only)."""
    try:
        data = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [
        ReceivedMessage.from_json(line) for line in data.splitlines(keepends=True)
        if line.endswith("\n")
    ]  # fmt: skip


def read_count(path: str | Path) -> int:
    """Return the number of messages a ``--count-only`` sink subprocess has received so far."""
    try:
        return int(Path(path).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


class Recorder:
    """An aiosmtpd handler keeping the messages in memory, or in a JSON-lines file if ``out``."""

    def __init__(self, *, out: Path | None = None, delay: float = 0, pipelining: bool = False):
        self.messages: list[ReceivedMessage] = []
        self.count = 0
        self.delay = delay
        self.pipelining = pipelining  # offer PIPELINING (RFC 2920) after EHLO
        self._stream = None
        if out is not None:
            self._stream = open(out, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self._changed = threading.Condition()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # as aiosmtpd does without this hook
        if self.pipelining:  # aiosmtpd reads commands one by one: pipelined ones are fine
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        received = ReceivedMessage(
            envelope.mail_from, envelope.rcpt_tos, envelope.original_content or b""
        )
        if self._stream is not None:
            self._stream.write(received.to_json() + "\n")
        with self._changed:
            self.count += 1
            if self._stream is None:
                self.messages.append(received)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def flush(self) -> None:
        """Make what was received so far visible in the output file."""
        if self._stream is not None:
            self._stream.flush()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Block until at least ``count`` messages arrived; return False after ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= count, timeout=timeout)


class BoundController(Controller):
    """aiosmtpd's threaded Controller on a socket bound beforehand, so port 0 picks a free port."""

    def __init__(self, handler, *, host: str = "127.0.0.1", port: int = 0, **kwargs):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(512)
        super().__init__(
            handler,
            hostname=host,
            port=self._socket.getsockname()[1],
            server_hostname=SERVER_NAME,
            ready_timeout=10,
            **kwargs,
        )

    def factory(self):
        return SMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._socket)


class SmtpSink:
    """A running in-process SMTP server: ``port``, ``messages``, ``wait_for(count, timeout)``."""

    def __init__(self, *, delay: float = 0):
        self.recorder = Recorder(delay=delay)
        self.controller = BoundController(self.recorder)
        self.host = "127.0.0.1"
        self.port = self.controller.port

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self.recorder._changed:
            return list(self.recorder.messages)

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        return self.recorder.wait_for(count, timeout)

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class SinkProcess:
    """A sink run as a subprocess (``python -m tools.smtp_sink``) for other processes.

    ``port``; ``messages()`` and ``count()`` read what it recorded so far (at most 0.1 s late);
    ``wait_for(count, timeout)``; ``stop()``.
    """

    def __init__(
        self, out: Path, *, count_only: bool = False, delay: float = 0, pipelining: bool = True
    ):
        self.out = Path(out)
        self.count_only = count_only
        self.pipelining = pipelining
        command = [sys.executable, "-m", "tools.smtp_sink", "--out", str(self.out)]
        if count_only:
            command.append("--count-only")
            if not pipelining:  # the counting sink offers PIPELINING unless told not to
                command.append("--no-pipelining")
        if delay:
            command += ["--delay", str(delay)]
        root = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen(  # noqa: S603 (our own module, no shell)
            command, cwd=root, stdout=subprocess.PIPE, text=True
        )
        ready = self.process.stdout.readline().split()
        if ready[:1] != ["READY"]:
            self.stop()
            raise RuntimeError(f"the SMTP sink did not start: {ready}")
        self.host = "127.0.0.1"
        self.port = int(ready[1])

    def messages(self) -> list[ReceivedMessage]:
        return read_messages(self.out)

    def count(self) -> int:
        if self.count_only:
            return read_count(self.out)
        try:
            with open(self.out, "rb") as handle:
                return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(FLUSH_SECONDS)
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


class CountingSmtp(asyncio.Protocol):
    """A minimal SMTP server side that only counts messages: the benchmarks' fast sink.

    It speaks enough SMTP for smtplib and Django's SMTP backend (EHLO/HELO, MAIL, RCPT, DATA,
    RSET, NOOP, QUIT, without TLS) and never parses a message. It offers PIPELINING, as Postfix
    and the big providers do, unless told not to: it answers the commands in a read in order.
    """

    def __init__(self, counter: list[int], *, pipelining: bool = True):
        self.counter = counter
        self.pipelining = pipelining
        self.buffer = bytearray()
        self.in_data = False
        self.scanned = 0

    def connection_made(self, transport):
        self.transport = transport
        transport.write(f"220 {SERVER_NAME} ESMTP sink\r\n".encode())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):
                    end = 0
                else:
                    found = self.buffer.find(b"\r\n.\r\n", max(self.scanned - 4, 0))
                    if found < 0:
                        self.scanned = len(self.buffer)
                        return
                    end = found + 2
                del self.buffer[: end + 3]
                self.in_data = False
                self.scanned = 0
                self.counter[0] += 1
                self.transport.write(b"250 OK\r\n")
                continue
            found = self.buffer.find(b"\r\n")
            if found < 0:
                return
            line = bytes(self.buffer[:found])
            del self.buffer[: found + 2]
            self._command(line[:4].upper())

    def _command(self, verb: bytes) -> None:
        if verb == b"EHLO":
            extensions = ("8BITMIME", "SMTPUTF8", "SIZE 33554432")
            if self.pipelining:
                extensions = ("PIPELINING", *extensions)
            lines = [SERVER_NAME, *extensions]
            reply = "".join(f"250-{line}\r\n" for line in lines[:-1]) + f"250 {lines[-1]}\r\n"
            self.transport.write(reply.encode())
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            self.transport.write(b"250 OK\r\n")
        else:
            self.transport.write(b"500 Command not recognized\r\n")


def _write_count(out: Path, count: int) -> None:
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(str(count))
    os.replace(temporary, out)


async def _serve_counting(host: str, port: int, out: Path, *, pipelining: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    counter = [0]
    server = await loop.create_server(
        lambda: CountingSmtp(counter, pipelining=pipelining), host, port, backlog=512
    )
    _write_count(out, 0)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    written = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
        if counter[0] != written:
            written = counter[0]
            _write_count(out, written)
    server.close()
    _write_count(out, counter[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback SMTP server that records messages.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--out", type=Path, required=True, help="where to record messages")
    parser.add_argument("--count-only", action="store_true", help="only count messages")
    parser.add_argument("--delay", type=float, default=0, help="seconds to hold each message")
    parser.add_argument(
        "--no-pipelining",
        action="store_true",
        help="with --count-only: do not offer PIPELINING (the recording server never does)",
    )
    args = parser.parse_args(argv)
    if args.count_only:
        if args.delay:
            parser.error("--delay needs the recording server: leave out --count-only")
        serving = _serve_counting(args.host, args.port, args.out, pipelining=not args.no_pipelining)
        asyncio.run(serving)
        return

    recorder = Recorder(out=args.out, delay=args.delay)
    controller = BoundController(recorder, host=args.host, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    controller.start()
    recorder.flush()
    print(f"READY {controller.port}", flush=True)
    try:
        while not stop.wait(FLUSH_SECONDS):
            controller.loop.call_soon_threadsafe(recorder.flush)
    finally:
        controller.stop()
        recorder.close()


if __name__ == "__main__":
    sys.exit(main())
