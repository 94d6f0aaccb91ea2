"""The webhook step: an HTTP POST of a signed JSON body, with a timeout and retries.

The body is signed with HMAC-SHA256 over ``"{timestamp}.{body}"`` under ``FLOW_WEBHOOK_SECRET``
and sent as ``X-Flow-Signature: t={timestamp},v1={hex}``; ``X-Flow-Delivery`` is the same for
every attempt of one step of one enrollment, so a receiver can drop a repeat (after a worker
died mid-call, the call is made again). The call is made outside any transaction: a webhook
that hangs holds only its own enrollment, parked until the answer or the timeout.
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flows.engine import version_load
from flows.models import Enrollment, StepRun

BACKOFF_SECONDS = 10
BACKOFF_MAX_SECONDS = 3600
# A call still "calling" this long after its timeout was lost with its worker: try it again.
CALLING_GRACE_SECONDS = 60


def signature(body: bytes, timestamp: int, secret: str) -> str:
    """Return the ``X-Flow-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _body(enrollment: Enrollment, step_key: str) -> bytes:
    profile = enrollment.profile
    return json.dumps(
        {
            "flow": enrollment.flow.slug,
            "version": enrollment.version.number,
            "step": step_key,
            "enrollment": enrollment.pk,
            "entry": enrollment.entry,
            "profile": {"external_id": profile.external_id},
            "at": timezone.now().isoformat(),
        },
        ensure_ascii=False,
    ).encode()


def _post(url: str, body: bytes, delivery: str, timeout: int) -> tuple[int | None, str]:
    """POST ``body``; return (HTTP status or None, error text or "")."""
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 (the step's URL is checked for http(s))
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Flow-Delivery": delivery,
            "X-Flow-Signature": signature(body, timestamp, settings.FLOW_WEBHOOK_SECRET),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https checked)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return None, str(getattr(exc, "reason", exc))[:300]


def _claim(enrollment_id: int, step_key: str) -> StepRun | None:
    claimed = StepRun.objects.filter(
        enrollment_id=enrollment_id, step_key=step_key, status=StepRun.Status.PENDING
    ).update(status=StepRun.Status.CALLING, at=timezone.now())
    if not claimed:
        return None
    return StepRun.objects.get(enrollment_id=enrollment_id, step_key=step_key)


def webhook_call(*, enrollment_id: int, step_key: str) -> str:
    """Make one attempt of a webhook step and record it; return "ok", "retry", "failed" or
    "skipped" (another worker has it, or it is done)."""
    run = _claim(enrollment_id, step_key)
    if run is None:
        return "skipped"
    enrollment = Enrollment.objects.select_related("flow", "version", "profile").get(
        pk=enrollment_id
    )
    version = version_load(enrollment.version_id)
    step = version.definition.steps[step_key]
    config = step.config
    body = _body(enrollment, step_key)
    started = time.monotonic()
    status, error = _post(
        config["url"], body, f"{enrollment_id}:{step_key}", config.get("timeout_seconds", 5)
    )
    attempts = run.attempts + 1
    detail = {"status": status, "error": error, "ms": round((time.monotonic() - started) * 1000)}
    ok = status is not None and 200 <= status < 300
    retries = config.get("retries", 3)
    now = timezone.now()
    with transaction.atomic():
        if ok or attempts > retries:
            outcome = "ok" if ok else "failed"
            StepRun.objects.filter(pk=run.pk).update(
                status=StepRun.Status.DONE if ok else StepRun.Status.FAILED,
                outcome=outcome,
                detail=detail,
                attempts=attempts,
                at=now,
            )
            # back to the engine: the replayed run moves it on (see engine._replayed)
            Enrollment.objects.filter(pk=enrollment_id, status=Enrollment.Status.ACTIVE).update(
                wake_at=now
            )
            transaction.on_commit(_advance)
            return outcome
        delay = min(BACKOFF_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)
        StepRun.objects.filter(pk=run.pk).update(
            status=StepRun.Status.PENDING, detail=detail, attempts=attempts, at=now
        )
        Enrollment.objects.filter(pk=enrollment_id, status=Enrollment.Status.ACTIVE).update(
            wake_at=now + timezone.timedelta(seconds=delay)
        )
    return "retry"


def _advance():
    from flows.tasks import flows_advance_task

    flows_advance_task.delay()


def webhooks_sweep(*, now=None) -> int:
    """Give back calls whose worker died mid-call (still "calling" long after any timeout)."""
    now = now or timezone.now()
    stale = now - timezone.timedelta(seconds=30 + CALLING_GRACE_SECONDS)
    runs = StepRun.objects.filter(status=StepRun.Status.CALLING, at__lt=stale)
    ids = list(runs.values_list("enrollment_id", flat=True))
    runs.update(status=StepRun.Status.PENDING, at=now)
    Enrollment.objects.filter(pk__in=ids, status=Enrollment.Status.ACTIVE).update(wake_at=now)
    return len(ids)
