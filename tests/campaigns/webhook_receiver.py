"""A webhook receiver on loopback, written as a receiver should be: it checks the signature with
the shared secret, refuses an old timestamp, counts each request and notices a delivery id it
has already handled (a replay). It answers from a script: a status, or "hang" to say nothing
until the caller's timeout."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core.webhooks import timed_signature_valid

HANG = "hang"


@dataclass
class Received:
    headers: dict
    body: bytes
    signed: bool  # the signature verified under the receiver's secret, with a fresh timestamp
    replay: bool  # this delivery id was already handled (answered 2xx) before

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers.get("X-Webhook-Delivery", "")


@dataclass
class WebhookReceiver:
    secret: str
    script: list = field(default_factory=list)  # answers in turn, then 200
    answer_body: bytes = b'{"ok": true}'
    requests: list[Received] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server offers it

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.take(self, body)

            def log_message(self, *args):
                pass

        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/in"
        return self

    def take(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = dict(handler.headers)
        signed = timed_signature_valid(headers.get("X-Webhook-Signature", ""), body, self.secret)
        delivery = headers.get("X-Webhook-Delivery", "")
        received = Received(headers, body, signed, replay=delivery in self.handled)
        self.requests.append(received)
        answer = self.script.pop(0) if self.script else 200
        if answer == HANG:
            self.stopping.wait(5)
            return
        if not signed:
            answer = 401
        if 200 <= answer < 300:
            self.handled.add(delivery)
        handler.send_response(answer)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(self.answer_body)))
        handler.end_headers()
        handler.wfile.write(self.answer_body)

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
