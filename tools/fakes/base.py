"""A fake SMS provider: an HTTP server on loopback, in a thread, that tests and benchmarks drive.

A provider module (``aliyun_sms``, ``tencent_sms``) subclasses ``FakeProvider`` and answers each
request in ``answer``: it checks the signature as the provider does and answers in its shapes.
Knobs, per phone number, in the order the requests come (``script``): ``TIMEOUT`` (the answer
comes after ``stall_seconds``, later than a client waits), an HTTP status such as 500 or 503,
or a provider error code; once the script is used up, the number's messages are accepted.
Accepted messages are kept in ``sent``; ``post_receipts`` POSTs delivery reports for them to a
callback URL later, as the provider's receipt push does.
"""

import collections
import http.client
import http.server
import json
import threading
import time
import urllib.parse

TIMEOUT = "timeout"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the providers' gateways
    # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
    # back until the client's delayed ACK of the headers (40 ms a request on Linux).
    disable_nagle_algorithm = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        status, answer = self.server.fake.handle(self.path, self.headers, body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        """``/_count``: how many messages were accepted (for a benchmark in another process)."""
        answer = json.dumps({"sent": self.server.fake.count}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """A client that gave up (a timeout) closed its end: nothing to report."""


class FakeProvider:
    """Base of the fake providers; ``answer(path, headers, body) -> (status, dict)``."""

    def __init__(self, *, stall_seconds: float = 3.0, keep: bool = True):
        self.stall_seconds = stall_seconds
        self.keep = keep  # False: count accepted messages only (benchmarks)
        self.sent: list[dict] = []
        self.refused: list[tuple[str, str]] = []  # (phone or "", code) of refused requests
        self.count = 0
        self._scripts: dict[str, collections.deque] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None

    # --- driving it ---------------------------------------------------------------------------

    def start(self, port: int = 0) -> "FakeProvider":
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def script(self, phone: str, *answers) -> None:
        """Answer the next requests for ``phone`` with ``answers`` (TIMEOUT, a status, a code)."""
        with self._lock:
            self._scripts.setdefault(phone, collections.deque()).extend(answers)

    def post_receipts(self, url: str, reports: list[dict], headers: dict | None = None):
        """POST ``reports`` as a JSON array to ``url``; return (status, body text)."""
        parts = urllib.parse.urlsplit(url)
        classes = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}
        connection = classes[parts.scheme](parts.netloc, timeout=10)
        try:
            body = json.dumps(reports, ensure_ascii=False).encode()
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", path or "/", body=body, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()

    # --- for the provider modules -------------------------------------------------------------

    def handle(self, path: str, headers, body: bytes) -> tuple[int, bytes]:
        status, data = self.answer(path, headers, body)
        return status, json.dumps(data, ensure_ascii=False).encode()

    def answer(self, path: str, headers, body: bytes) -> tuple[int, dict]:
        raise NotImplementedError

    def scripted(self, phone: str):
        """Return the next scripted answer for ``phone``, or None; TIMEOUT stalls first."""
        with self._lock:
            queue = self._scripts.get(phone)
            next_answer = queue.popleft() if queue else None
        if next_answer == TIMEOUT:
            time.sleep(self.stall_seconds)
        return next_answer

    def accept(self, record: dict) -> None:
        with self._lock:
            self.count += 1
            if self.keep:
                self.sent.append(record)

    def refuse(self, phone: str, code: str) -> None:
        with self._lock:
            self.refused.append((phone, code))
