"""Signed calls from outside (inbound SMS, the email provider's events) are taken only while fresh.

A signature that covers the time it was made is refused once that time is more than
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


def timed_signature_valid(header: str, body: bytes, secret: str) -> bool:
    """Return whether ``header`` is ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>``,
    made with ``secret`` within the window (the format of the flows' own webhooks)."""
    parts = dict(item.partition("=")[::2] for item in header.split(",") if "=" in item)
    timestamp, given = parts.get("t", "").strip(), parts.get("v1", "").strip()
    if not timestamp.isdigit() or not given or not timestamp_fresh(timestamp):
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(given.encode(), mac.hexdigest().encode())
