"""The webhook step: an HTTP POST of a signed JSON body to an endpoint, with a timeout and retries.

A step names a webhook endpoint (``endpoint``: its slug, managed on the campaigns' webhook
pages): the body is signed with the endpoint's secret and each attempt is written to the
endpoint's delivery log. A step saved before endpoints existed names a ``url`` instead and is
signed with ``FLOW_WEBHOOK_SECRET`` (no log). Headers (``campaigns.webhooks``): the
``X-Webhook-Signature`` (HMAC-SHA256 over ``"{timestamp}.{body}"``, ``t={timestamp},v1={hex}``),
repeated as ``X-Flow-Signature`` as documented before; ``X-Webhook-Delivery``
(``flow:<enrollment>:<step>``) and ``X-Flow-Delivery`` (``<enrollment>:<step>``) are the same for
every attempt of one step of one enrollment, so a receiver can drop a repeat (after a worker
died mid-call, the call is made again). A 2xx answer is success; 408, 425, 429, 5xx and no
answer are tried again with backoff; any other answer (410 and other 4xx), or a disabled or
deleted endpoint, gives up at once. The call is made outside any transaction: a webhook that
hangs holds only its own enrollment, parked until the answer or the timeout.
"""

import json

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.webhooks import (
    ERROR_DISABLED,
    Answer,
    WebhookClient,
    deliveries_log,
    delivery_row,
    endpoint_client,
)
from flows.engine import version_load
from flows.models import Enrollment, StepRun

BACKOFF_SECONDS = 10
BACKOFF_MAX_SECONDS = 3600
# A call still "calling" this long after its timeout was lost with its worker: try it again.
CALLING_GRACE_SECONDS = 60


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


def _client(config) -> tuple[WebhookClient | None, WebhookEndpoint | None]:
    """Return the client of the step's endpoint (None when it is gone or disabled) and the
    endpoint (None for a step that names a URL)."""
    timeout = config.get("timeout_seconds", 5)
    slug = config.get("endpoint")
    if not slug:
        client = WebhookClient(
            url=config["url"], secret=settings.FLOW_WEBHOOK_SECRET, timeout=timeout
        )
        return client, None
    endpoint = WebhookEndpoint.objects.filter(slug=slug).first()
    if endpoint is None or not endpoint.active:
        return None, endpoint
    return endpoint_client(endpoint, timeout=timeout), endpoint


def _post(enrollment: Enrollment, step_key: str, config, attempt: int) -> Answer:
    """POST the step's body to its endpoint or URL and log the attempt on the endpoint."""
    client, endpoint = _client(config)
    if client is None:
        name = endpoint.name if endpoint is not None else config.get("endpoint")
        answer = Answer(status=None, error=ERROR_DISABLED.dumps(name=name), refused=True)
    else:
        legacy = f"{enrollment.pk}:{step_key}"
        extra = {
            "X-Flow-Signature": lambda headers: headers["X-Webhook-Signature"],
            "X-Flow-Delivery": legacy,
        }
        try:
            answer = client.post(
                _body(enrollment, step_key),
                delivery_id=f"flow:{legacy}",
                attempt=attempt,
                extra=extra,
            )
        finally:
            client.close()
    if endpoint is not None:
        row = delivery_row(
            endpoint_id=endpoint.pk,
            answer=answer,
            delivery_id=f"flow:{enrollment.pk}:{step_key}",
            attempt=attempt,
            source=WebhookDelivery.Source.FLOW,
            label=f"{enrollment.flow.name} · {step_key}",
        )
        deliveries_log([row])
    return answer


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
    config = version.definition.steps[step_key].config
    attempts = run.attempts + 1
    answer = _post(enrollment, step_key, config, attempts)
    detail = {"status": answer.status, "error": answer.error, "ms": answer.duration_ms}
    ok = answer.ok
    retries = config.get("retries", 3)
    now = timezone.now()
    with transaction.atomic():
        if ok or answer.permanent or attempts > retries:
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
