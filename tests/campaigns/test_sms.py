"""SMS backends: console, file, memory, and the HTTP provider against a loopback server."""

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured

from campaigns import sms
from campaigns.sms import (
    ConsoleBackend,
    FileBackend,
    HttpBackend,
    LocmemBackend,
    SmsMessage,
    SmsResult,
    get_sms_backend,
)

HELLO = SmsMessage(to="+8613800000001", text="你好 Ada", reference="send-1")
BYE = SmsMessage(to="+8613800000002", text="再见 Bob", reference="send-2")


class Provider:
    """A loopback SMS provider: answers each POST with the next planned (status, body, delay)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.plan: list[tuple[int, dict, float]] = []
        self.connections: set[int] = set()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so one connection can carry a batch

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                provider.connections.add(id(self.connection))
                provider.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
                )
                status, answer, delay = provider.plan.pop(0) if provider.plan else (200, {}, 0)
                time.sleep(delay)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/sms?account=ops"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    server = Provider()
    yield server
    server.stop()


def http_backend(provider, **kwargs) -> HttpBackend:
    return HttpBackend(url=provider.url, key="s3cret", timeout=kwargs.pop("timeout", 5), **kwargs)


def test_it_posts_each_message_as_json_with_the_key_as_a_bearer_token(provider):
    provider.plan = [(200, {"id": "prov-1"}, 0), (201, {"message_id": "prov-2"}, 0)]

    with http_backend(provider) as backend:
        results = backend.send_messages([HELLO, BYE])

    assert results == [
        SmsResult(ok=True, permanent=False, provider_id="prov-1"),
        SmsResult(ok=True, permanent=False, provider_id="prov-2"),
    ]
    first = provider.requests[0]
    assert first["path"] == "/v1/sms?account=ops"
    assert first["headers"]["Authorization"] == "Bearer s3cret"
    assert first["headers"]["Idempotency-Key"] == "send-1"
    assert first["json"] == {"to": "+8613800000001", "text": "你好 Ada", "reference": "send-1"}
    assert len(provider.connections) == 1


def test_a_4xx_answer_is_a_permanent_failure(provider):
    provider.plan = [(400, {"error": "invalid number"}, 0)]

    with http_backend(provider) as backend:
        [result] = backend.send_messages([HELLO])

    assert not result.ok
    assert result.permanent
    assert "400" in result.error
    assert "invalid number" in result.error


def test_a_429_answer_is_transient(provider):
    provider.plan = [(429, {"error": "slow down"}, 0)]

    with http_backend(provider) as backend:
        [result] = backend.send_messages([HELLO])

    assert not result.ok
    assert not result.permanent


def test_a_5xx_answer_is_transient_and_the_next_message_still_goes(provider):
    provider.plan = [(503, {"error": "busy"}, 0), (200, {"id": "prov-2"}, 0)]

    with http_backend(provider) as backend:
        results = backend.send_messages([HELLO, BYE])

    assert results[0].ok is False
    assert results[0].permanent is False
    assert "503" in results[0].error
    assert results[1] == SmsResult(ok=True, permanent=False, provider_id="prov-2")


def test_a_timeout_is_transient_and_the_backend_reconnects_for_the_next_message(provider):
    provider.plan = [(200, {"id": "late"}, 1.5), (200, {"id": "prov-2"}, 0)]

    with http_backend(provider, timeout=0.3) as backend:
        results = backend.send_messages([HELLO, BYE])

    assert results[0].ok is False
    assert results[0].permanent is False
    assert "0.3" in results[0].error
    assert results[1].ok is True
    assert results[1].provider_id == "prov-2"


def test_an_unreachable_provider_is_a_transient_failure():
    backend = HttpBackend(url="http://127.0.0.1:9/sms", key="k", timeout=2)

    [result] = backend.send_messages([HELLO])

    assert not result.ok
    assert not result.permanent
    assert result.error


def test_it_refuses_an_empty_or_odd_provider_url():
    with pytest.raises(ImproperlyConfigured, match="SMS_PROVIDER_URL"):
        HttpBackend(url="", key="k").open()
    with pytest.raises(ImproperlyConfigured, match="ftp://"):
        HttpBackend(url="ftp://example.com/sms", key="k").open()


def test_it_reads_url_key_and_timeout_from_settings(settings, provider):
    settings.SMS_PROVIDER_URL = provider.url
    settings.SMS_PROVIDER_KEY = "from-settings"
    settings.SMS_PROVIDER_TIMEOUT = 7

    backend = get_sms_backend("campaigns.sms.HttpBackend")
    [result] = backend.send_messages([HELLO])

    assert backend.timeout == 7
    assert result.ok
    assert provider.requests[0]["headers"]["Authorization"] == "Bearer from-settings"


def test_the_console_backend_writes_each_message():
    stream = io.StringIO()

    results = ConsoleBackend(stream=stream).send_messages([HELLO, BYE])

    assert [r.ok for r in results] == [True, True]
    assert "+8613800000001" in stream.getvalue()
    assert "再见 Bob" in stream.getvalue()


def test_the_file_backend_appends_json_lines(settings, tmp_path):
    settings.SMS_FILE_PATH = str(tmp_path / "out" / "sms.jsonl")

    with FileBackend() as backend:
        backend.send_messages([HELLO])
    FileBackend().send_messages([BYE])

    lines = [json.loads(line) for line in (tmp_path / "out" / "sms.jsonl").read_text().splitlines()]
    assert [(line["to"], line["text"], line["reference"]) for line in lines] == [
        ("+8613800000001", "你好 Ada", "send-1"),
        ("+8613800000002", "再见 Bob", "send-2"),
    ]


def test_the_locmem_backend_keeps_messages_and_plays_back_failures(monkeypatch):
    monkeypatch.setattr(sms, "outbox", [])
    refused = SmsResult(ok=False, permanent=True, error="invalid number")
    monkeypatch.setattr(sms, "failures", {BYE.to: refused})

    results = LocmemBackend().send_messages([HELLO, BYE])

    assert results[0].ok
    assert results[1] == refused
    assert sms.outbox == [HELLO]


def test_get_sms_backend_uses_the_setting(settings):
    settings.SMS_BACKEND = "campaigns.sms.LocmemBackend"

    assert isinstance(get_sms_backend(), LocmemBackend)
