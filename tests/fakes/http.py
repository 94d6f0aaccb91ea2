"""A JSON HTTP server on loopback in a thread of the test process, for the fake providers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """Serve ``handle(method, path, headers, body) -> (status, answer)`` on 127.0.0.1.

    ``answer`` is a dict (sent as JSON) or bytes. Every request is kept in ``requests`` as
    (method, path, headers, body bytes).
    """

    def __init__(self):
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the providers do

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with fake.lock:
                    fake.requests.append(("POST", self.path, headers, body))
                    status, answer = fake.handle("POST", self.path, headers, body)
                raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, object]:
        raise NotImplementedError

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
