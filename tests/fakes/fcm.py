"""A fake Firebase: Google's OAuth 2.0 token endpoint and FCM HTTP v1 ``messages:send``.

The token endpoint checks the JWT bearer grant as Google documents it: an RS256 assertion
signed by the service account's key (verified with its public key), issued by its
``client_email``, for the firebase.messaging scope, addressed to the token URI, living at most
an hour; it answers ``{"access_token", "expires_in", "token_type"}``. ``messages:send`` checks
the bearer token (known and not expired) and the project, and answers ``{"name"}`` or FCM's
error shape. What a token gets is chosen by its prefix:

- ``unregistered-…``: 404 UNREGISTERED; ``invalid-…``: 400 INVALID_ARGUMENT (bad token);
- ``badfield-…``: 400 INVALID_ARGUMENT about another field (the message, not the token);
- ``busy-…``: 503 UNAVAILABLE the first time, then accepted; ``quota-…``: 429 QUOTA_EXCEEDED;
- anything else is accepted.
"""

import base64
import json
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.http import FakeServer

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
PROJECT = "demo-shop-push"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
CLIENT_EMAIL = "push-sender@demo-shop-push.iam.gserviceaccount.com"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fcm_error(status: int, grpc_status: str, message: str, error_code: str = "", field=""):
    details = []
    if error_code:
        details.append(
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        )
    if field:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        )
    error = {"code": status, "message": message, "status": grpc_status, "details": details}
    return status, {"error": error}


class FakeFcm(FakeServer):
    def __init__(self, *, lifetime: int = 3600):
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.lifetime = lifetime
        self.tokens: dict[str, float] = {}  # access token → expiry
        self.exchanges = 0
        self.sent: list[dict] = []
        self.seen: dict[str, int] = {}  # device token → times tried

    def service_account(self) -> dict:
        """Return the service account JSON key whose token_uri is this server."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "token_uri": f"{self.url}/token",
        }

    def expire_tokens(self) -> None:
        """Let every access token given so far expire (as Google's do after an hour)."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def handle(self, method, path, headers, body):
        if path == "/token":
            return self._token(headers, body)
        if path == f"/v1/projects/{PROJECT}/messages:send":
            return self._send(headers, body)
        return 404, {
            "error": {"code": 404, "message": f"no such path {path}", "status": "NOT_FOUND"}
        }

    def _token(self, headers, body):
        form = urllib.parse.parse_qs(body.decode())
        if headers.get("content-type") != "application/x-www-form-urlencoded":
            return 400, {"error": "invalid_request", "error_description": "form encoding expected"}
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return 400, {"error": "unsupported_grant_type"}
        problem = self._assertion_problem((form.get("assertion") or [""])[0])
        if problem:
            return 400, {"error": "invalid_grant", "error_description": problem}
        self.exchanges += 1
        token = f"ya29.fake-{self.exchanges}"
        self.tokens[token] = time.time() + self.lifetime
        return 200, {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}

    def _assertion_problem(self, assertion: str) -> str:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header, claims = json.loads(_unb64(header_b64)), json.loads(_unb64(claims_b64))
            self.key.public_key().verify(
                _unb64(signature_b64),
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception as exc:
            return f"Invalid JWT: {type(exc).__name__}"
        now = time.time()
        checks = {
            "alg": header.get("alg") == "RS256",
            "iss": claims.get("iss") == CLIENT_EMAIL,
            "scope": claims.get("scope") == SCOPE,
            "aud": claims.get("aud") == f"{self.url}/token",
            "iat": abs(claims.get("iat", 0) - now) < 300,
            "exp": 0 < claims.get("exp", 0) - claims.get("iat", 0) <= 3600,
        }
        return ", ".join(f"bad {name}" for name, ok in checks.items() if not ok)

    def _send(self, headers, body):
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if self.tokens.get(bearer, 0) < time.time():
            return 401, {
                "error": {
                    "code": 401,
                    "message": "Request had invalid authentication credentials.",
                    "status": "UNAUTHENTICATED",
                }
            }
        message = json.loads(body)["message"]
        token = message.get("token", "")
        self.seen[token] = self.seen.get(token, 0) + 1
        if token.startswith("unregistered-"):
            return fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        if token.startswith("invalid-"):
            text = "The registration token is not a valid FCM registration token"
            return fcm_error(400, "INVALID_ARGUMENT", text, "INVALID_ARGUMENT")
        if token.startswith("badfield-"):
            text = "Invalid value at 'message.data[0].value' (TYPE_STRING), 12"
            return fcm_error(400, "INVALID_ARGUMENT", text, field="message.data[0].value")
        if token.startswith("busy-") and self.seen[token] == 1:
            return fcm_error(
                503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"
            )
        if token.startswith("quota-"):
            return fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED")
        self.sent.append(message)
        return 200, {"name": f"projects/{PROJECT}/messages/0:{len(self.sent)}%fake"}
