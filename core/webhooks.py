"""Timed HMAC signatures: made on the webhooks we send, checked on the calls we take.

One signer for every outgoing webhook (a campaign's webhook channel, a flow's webhook step):
``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`` under the endpoint's secret. Signed
calls from outside (inbound SMS, the email provider's events) are taken only while fresh: a
signature that covers the time it was made is refused once that time is more than
WEBHOOK_MAX_AGE_SECONDS away from now, either way: a call recorded and replayed later is refused.
"""

import hashlib
import hmac
import time

from django.conf import settings


def timestamp_fresh(value) -> bool:
    """Return whether ``value`` (Unix seconds, as text or a number) is within the window of now."""
    try:
        moment = float(value)
    except (TypeError, ValueError):
        return False
    return abs(time.time() - moment) <= settings.WEBHOOK_MAX_AGE_SECONDS


def timed_signature(body: bytes, timestamp: int, secret: str) -> str:
    """Return the signature header value of ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def timed_signature_valid(header: str, body: bytes, secret: str) -> bool:
    """Return whether ``header`` is ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>``,
    made with ``secret`` within the window (the format of the flows' own webhooks)."""
    parts = dict(item.partition("=")[::2] for item in header.split(",") if "=" in item)
    timestamp, given = parts.get("t", "").strip(), parts.get("v1", "").strip()
    if not timestamp.isdigit() or not given or not timestamp_fresh(timestamp):
        return False
    expected = timed_signature(body, int(timestamp), secret).partition(",v1=")[2]
    return hmac.compare_digest(given.encode(), expected.encode())
