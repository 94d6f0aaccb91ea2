"""A fake JPush Push API v3: ``POST /v3/push`` with HTTP basic auth (app key : master secret).

It answers ``{"sendno", "msg_id"}``, or an HTTP error with ``{"error": {"code", "message"}}``
as JPush documents: 1004 for bad authentication, 1011 for an audience no device matches. What a
registration id gets is chosen by its prefix: ``gone…`` 1011; ``busy…`` 2002 (rate limit, 429)
the first time, then accepted; ``down…`` a 503; anything else is accepted.
"""

import base64
import json

from tests.fakes.http import FakeServer

APP_KEY = "7d431e42dfa6a6d693ac2d04"
MASTER_SECRET = "5e987ac6d2e04d95a9d8f0d1"


def jpush_error(status: int, code: int, message: str):
    return status, {"error": {"code": code, "message": message}, "msg_id": "0"}


class FakeJPush(FakeServer):
    def __init__(self):
        super().__init__()
        self.sent: list[dict] = []
        self.seen: dict[str, int] = {}

    def handle(self, method, path, headers, body):
        if path != "/v3/push":
            return 404, {"error": {"code": 404, "message": "not found"}}
        expected = base64.b64encode(f"{APP_KEY}:{MASTER_SECRET}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return jpush_error(401, 1004, "Authen failed")
        push = json.loads(body)
        ids = (push.get("audience") or {}).get("registration_id") or []
        if not ids or not push.get("notification") or not push.get("platform"):
            return jpush_error(400, 1003, "Missing parameter or invalid value")
        rid = ids[0]
        self.seen[rid] = self.seen.get(rid, 0) + 1
        if rid.startswith("gone"):
            return jpush_error(400, 1011, "cannot find user by this audience")
        if rid.startswith("busy") and self.seen[rid] == 1:
            return jpush_error(429, 2002, "Request times of the app_key exceed the limit")
        if rid.startswith("down"):
            return 503, b"Service Unavailable"
        self.sent.append(push)
        return 200, {"sendno": "0", "msg_id": str(54043195528450000 + len(self.sent))}
