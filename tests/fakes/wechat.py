"""A loopback WeChat Official Account and WeCom API, speaking their documented shapes.

It hands out access tokens (``/cgi-bin/token``, WeCom's ``/cgi-bin/gettoken``) and checks the
token of every call (40001 unknown, 42001 expired), checks each message's fields as the
platform documents them (47003 / 40008 / 44004 otherwise) and records what it accepted.
``plan`` holds answers for the next message calls, in order: an errcode dict, an HTTP status
(int) or a delay in seconds (float, then the call is answered as usual).
"""

import itertools
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INVALID_TOKEN = {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
EXPIRED_TOKEN = {"errcode": 42001, "errmsg": "access_token expired"}
OK = {"errcode": 0, "errmsg": "ok"}


def _argument_invalid(detail: str) -> dict:
    return {"errcode": 47003, "errmsg": f"argument invalid! {detail}"}


def template_problem(body: dict, *, page_field: str) -> dict | None:
    """Return the platform's answer to a template/subscription body it refuses, else None."""
    if not isinstance(body.get("touser"), str) or not body["touser"]:
        return {"errcode": 40003, "errmsg": "invalid openid"}
    if not isinstance(body.get("template_id"), str) or not body["template_id"]:
        return {"errcode": 40037, "errmsg": "invalid template_id"}
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        return _argument_invalid("data is empty")
    for key, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            return _argument_invalid(f"data.{key}.value invalid")
    if page_field in body and not isinstance(body[page_field], str):
        return _argument_invalid(f"{page_field} invalid")
    mini = body.get("miniprogram")
    if mini is not None and not (isinstance(mini, dict) and mini.get("appid")):
        return _argument_invalid("miniprogram.appid invalid")
    return None


def customer_message_problem(body: dict) -> dict | None:
    """Return WeCom's answer to an add_msg_template body it refuses, else None."""
    ids = body.get("external_userid")
    if body.get("chat_type", "single") != "single" or not isinstance(ids, list) or not ids:
        return {"errcode": 41048, "errmsg": "no available customers"}
    if not isinstance(body.get("sender"), str) or not body["sender"]:
        return {"errcode": 40003, "errmsg": "invalid userid"}
    text = (body.get("text") or {}).get("content", "")
    if not text and not body.get("attachments"):
        return {"errcode": 44004, "errmsg": "empty content"}
    for attachment in body.get("attachments", []):
        link = attachment.get("link") or {}
        if attachment.get("msgtype") != "link" or not link.get("title") or not link.get("url"):
            return {"errcode": 40008, "errmsg": "invalid attachments"}
    return None


def bot_problem(body: dict) -> dict | None:
    """Return a group bot's answer to a message it refuses, else None."""
    kind = body.get("msgtype")
    if kind in ("text", "markdown"):
        if not (body.get(kind) or {}).get("content"):
            return {"errcode": 44004, "errmsg": "empty content"}
        return None
    if kind == "news":
        articles = (body.get("news") or {}).get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return {"errcode": 40008, "errmsg": "invalid articles"}
        if any(not a.get("title") or not a.get("url") for a in articles):
            return {"errcode": 40008, "errmsg": "invalid article"}
        return None
    return {"errcode": 40008, "errmsg": "invalid message type"}


class FakeWeixin:
    """Both platforms on one loopback port (their paths do not collide)."""

    def __init__(self, *, expires_in: int = 7200, bot_per_minute: int = 20):
        self.app_id, self.app_secret = "wx-app", "wx-secret"
        self.corp_id, self.corp_secret = "ww-corp", "ww-secret"
        self.bot_keys = {"bot-key"}
        self.expires_in, self.bot_per_minute = expires_in, bot_per_minute
        self.tokens: dict[str, float] = {}  # issued token -> expiry (this server's clock)
        self.token_requests: list[str] = []  # the path of each token request
        self.accepted: list[dict] = []  # {"path", "json"} of each message taken
        self.calls: list[dict] = []  # every message call, taken or not
        self.plan: list = []
        self.refuse: dict[str, dict] = {}  # recipient -> the answer refusing it
        self.not_customers: set[str] = set()  # WeCom external ids put in fail_list
        self.bot_sent: dict[str, list[float]] = {}
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def revoke_all(self) -> None:
        """Forget every issued token (as a token fetched elsewhere would, minutes later)."""
        with self._lock:
            self.tokens.clear()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                self._answer(*fake.get(parts.path, dict(urllib.parse.parse_qsl(parts.query))))

            def do_POST(self):
                parts = urllib.parse.urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                query = dict(urllib.parse.parse_qsl(parts.query))
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._answer(200, {"errcode": 47001, "errmsg": "data format error"})
                    return
                self._answer(*fake.post(parts.path, query, body))

            def _answer(self, status: int, answer: dict | None):
                data = json.dumps(answer or {}).encode()
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

        return Handler

    def get(self, path: str, query: dict) -> tuple[int, dict]:
        if path == "/cgi-bin/token":
            if query.get("grant_type") != "client_credential":
                return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
            if query.get("appid") != self.app_id:
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            if query.get("secret") != self.app_secret:
                return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
            return 200, self._issue(path, wecom=False)
        if path == "/cgi-bin/gettoken":
            if query.get("corpid") != self.corp_id:
                return 200, {"errcode": 40013, "errmsg": "invalid corpid"}
            if query.get("corpsecret") != self.corp_secret:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            return 200, self._issue(path, wecom=True)
        return 404, {"errcode": 404, "errmsg": "not found"}

    def _issue(self, path: str, *, wecom: bool) -> dict:
        with self._lock:
            token = f"token-{next(self._ids)}"
            self.tokens[token] = time.time() + self.expires_in
            self.token_requests.append(path)
        answer = {"access_token": token, "expires_in": self.expires_in}
        return {**OK, **answer} if wecom else answer

    def _token_problem(self, token: str | None) -> dict | None:
        with self._lock:
            expiry = self.tokens.get(token or "")
        if expiry is None:
            return INVALID_TOKEN
        if expiry <= time.time():
            return EXPIRED_TOKEN
        return None

    def post(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        if path == "/cgi-bin/webhook/send":
            return 200, self._bot(query.get("key", ""), body)
        problem = self._token_problem(query.get("access_token"))
        if problem:
            return 200, problem
        with self._lock:
            self.calls.append({"path": path, "json": body})
            planned = self.plan.pop(0) if self.plan else None
        if isinstance(planned, float):
            time.sleep(planned)
        elif isinstance(planned, int):
            return planned, {"errcode": -1, "errmsg": "system error"}
        elif isinstance(planned, dict):
            return 200, planned
        return 200, self._message(path, body)

    def _message(self, path: str, body: dict) -> dict:
        if path == "/cgi-bin/externalcontact/add_msg_template":
            problem = customer_message_problem(body)
            if problem:
                return problem
            failed = [i for i in body["external_userid"] if i in self.not_customers]
            self.accepted.append({"path": path, "json": body})
            return {**OK, "fail_list": failed, "msgid": f"msg{next(self._ids)}"}
        page_field = {
            "/cgi-bin/message/template/send": "url",
            "/cgi-bin/message/subscribe/bizsend": "page",
        }.get(path)
        if page_field is None:
            return {"errcode": 404, "errmsg": "unknown api"}
        problem = template_problem(body, page_field=page_field) or self.refuse.get(body["touser"])
        if problem:
            return problem
        self.accepted.append({"path": path, "json": body})
        if page_field == "url":
            return {**OK, "msgid": next(self._ids)}
        return OK

    def _bot(self, key: str, body: dict) -> dict:
        if key not in self.bot_keys:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        now = time.time()
        with self._lock:
            recent = [t for t in self.bot_sent.get(key, []) if t > now - 60]
            if len(recent) >= self.bot_per_minute:
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
            problem = bot_problem(body)
            if problem:
                return problem
            self.bot_sent[key] = [*recent, now]
            self.accepted.append({"path": "/cgi-bin/webhook/send", "json": body})
        return OK
