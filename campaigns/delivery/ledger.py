"""The send ledger: claim batches of rows, record each row's outcome, sweep, finish.

A batch is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (a compare-and-set
UPDATE on SQLite), so any number of workers share a campaign without sending a row twice; a
worker claims in id order from where its last batch ended (``ClaimCursor``). ``BatchLedger``
records a claimed batch's outcomes and owns the crash rule (see its docstring). Rows of a
worker that died stay "sending" until ``campaign_sends_sweep`` queues them again.
"""

import datetime
import time
import uuid
from dataclasses import dataclass, fields

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from campaigns.channels import channel_get
from campaigns.models import Campaign, CampaignChange, Send, Suppression, Variant
from campaigns.services.channel_content import fields_compile
from campaigns.services.content import (
    PROFILE_FIELDS,
    ContentError,
    profile_context,
    variant_compile,
)
from campaigns.sql import sends_mark_sent
from campaigns.variables import template_variables, variables_load
from core.errors import coded
from core.models import Notification
from core.notifications import notification_send

ERROR_WORKER_DIED = coded(
    "send.worker_died",
    gettext_noop("The worker sending this message stopped; it was tried {attempts} times."),
)
_REMAINING = (Send.Status.QUEUED, Send.Status.SENDING, Send.Status.WAITING)


@dataclass
class BatchResult:
    """What one or more batches did: rows claimed, sent, skipped, failed, retried, deferred."""

    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0

    def add(self, other: "BatchResult") -> None:
        """Add another result's counts to this one."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


class Row:
    """One claimed ledger row, loaded as plain values: what sending and recording it need."""

    __slots__ = (
        "address",
        "attempts",
        "campaign_id",
        "contact",
        "context",
        "message_id",
        "parts",
        "pk",
        "profile_id",
        "sent_at",
        "variant",
    )

    def __init__(self, pk, campaign_id, profile_id, variant, attempts, context, contact):
        self.pk = pk
        self.campaign_id = campaign_id
        self.profile_id = profile_id
        self.variant = variant
        self.attempts = attempts
        self.context = context  # the profile as templates see it (``profile_context``)
        self.contact = contact  # the profile's email or phone, as stored
        self.address = ""  # the valid address on the channel (set by the guards)
        self.sent_at = None
        self.message_id = ""
        self.parts = 0  # an SMS: the parts it is billed as (set by the renderer)


class ClaimCursor:
    """Where a worker's last batch of a campaign ended: the id its next claim starts after.

    Due rows are claimed in id order, and the rows before the cursor are mostly sent or claimed
    by now. Without it each claim would walk past all of them again, in the index or the
    table, as the planner chooses (many thousands of rows late in a large campaign).
    """

    def __init__(self):
        self.after = 0


def claimable(campaign_id: int, now: datetime.datetime):
    """Return the rows of a sending campaign that are queued and due at ``now``."""
    return Send.objects.filter(
        campaign_id=campaign_id,
        campaign__status=Campaign.Status.SENDING,
        status=Send.Status.QUEUED,
    ).filter(Q(not_before__isnull=True) | Q(not_before__lte=now))


def sends_claim(
    *, campaign_id: int, now: datetime.datetime, limit: int, after: int = 0
) -> uuid.UUID | None:
    """Claim up to ``limit`` due queued rows of a sending campaign; return the batch id or None.

    ``after``: claim only rows with a greater id (where the worker's last batch ended).
    """
    batch = uuid.uuid4()
    with transaction.atomic():
        due = claimable(campaign_id, now).order_by("pk")
        if after:
            due = due.filter(pk__gt=after)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return None
        claimed = Send.objects.filter(pk__in=ids, status=Send.Status.QUEUED).update(
            status=Send.Status.SENDING, batch=batch, claimed_at=now
        )
    return batch if claimed else None


def batch_claim(
    *, campaign_id: int, now: datetime.datetime, limit: int, cursor: ClaimCursor
) -> uuid.UUID | None:
    """Claim a batch after ``cursor``; if none is due there, from the start (rows re-queued
    behind it: retries, released batches)."""
    batch = sends_claim(campaign_id=campaign_id, now=now, limit=limit, after=cursor.after)
    if batch is None and cursor.after:
        batch = sends_claim(campaign_id=campaign_id, now=now, limit=limit)
    return batch


def _profile_fields(campaign: Campaign, variants) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the profile fields and registered variables a batch needs.

    The fields are its channel's address and those templates read; a field or variable that no
    template of the campaign names is not loaded: no message can show it. If a variant does not
    compile, all are loaded (its rows then fail to render, as before).
    """
    spec = channel_get(campaign.channel)
    used = set()
    for variant in variants:
        try:
            if spec.content or variant.fields:
                used |= fields_compile(spec, variant.fields).variables
            if not spec.content:
                used |= variant_compile(campaign=campaign, variant=variant).variables
        except ContentError:
            return PROFILE_FIELDS, tuple(template_variables())
    fields = tuple(field for field in PROFILE_FIELDS if field in used)
    return fields, tuple(name for name in template_variables() if name in used)


def rows_load(campaign: Campaign, batch: uuid.UUID) -> list[Row]:
    """Return a claimed batch's rows, with the profile as templates see it, in id order."""
    variants = {variant.pk: variant for variant in Variant.objects.filter(campaign=campaign)}
    names, variables = _profile_fields(campaign, variants.values())
    spec = channel_get(campaign.channel)
    # The address column comes first: a Profile field, or "" when the channel looks it up.
    # Loaded as the stored text (no field conversion per row: the channel checks it).
    address = (
        ExpressionWrapper(F(f"profile__{spec.address_field}"), output_field=CharField())
        if spec.address_field
        else Value("")
    )
    columns = ("pk", "campaign_id", "profile_id", "variant_id", "attempts")
    values = (
        Send.objects.filter(batch=batch, status=Send.Status.SENDING)
        .order_by("pk")
        .annotate(contact=address)
        .values_list(*columns, "contact", *(f"profile__{name}" for name in names))
    )
    values = list(values)
    profile_ids = [row[2] for row in values]
    extra = variables_load(variables, profile_ids) if variables else {}
    contacts = spec.addresses(profile_ids) if not spec.address_field else None
    rows = []
    for pk, campaign_id, profile_id, variant_id, attempts, contact, *profile_values in values:
        profile = dict(zip(names, profile_values, strict=True))
        variant = variants.get(variant_id)
        context = profile_context(profile)
        context.update(extra.get(profile_id, {}))
        if contacts is not None:
            contact = contacts.get(profile_id)
        rows.append(Row(pk, campaign_id, profile_id, variant, attempts, context, contact))
    return rows


def skipped_record(batch: uuid.UUID, reasons: dict[int, str]) -> int:
    """Mark the rows the guards stopped skipped, with their reason; return how many were."""
    by_reason: dict[str, list[int]] = {}
    for pk, reason in reasons.items():
        by_reason.setdefault(reason, []).append(pk)
    skipped = 0
    for reason, ids in by_reason.items():
        skipped += Send.objects.filter(batch=batch, status=Send.Status.SENDING, pk__in=ids).update(
            status=Send.Status.SKIPPED, skip_reason=reason
        )
    return skipped


class BatchLedger:
    """Record the outcomes of one claimed batch; own the crash rule.

    The crash rule: **a killed worker resends at most CAMPAIGN_MARK_EVERY messages.** A sent
    message is recorded in the ledger in groups, and a message may be handed to a transport
    only within ``room()``: sent and not yet recorded, plus handed and not yet answered, never
    exceed CAMPAIGN_MARK_EVERY. Rows recorded sent are never sent again; the others of a dead
    worker's batch are queued again by the sweep, and only those the server had taken are sent
    twice. Failures are recorded at once.

    Every second or so ``flush`` also renews the claim (so the sweep leaves a live batch alone)
    and looks whether the campaign is still sending (``stopped`` after a pause or cancel).
    """

    def __init__(self, campaign: Campaign, batch: uuid.UUID, result: BatchResult):
        self.campaign = campaign
        self.batch = batch
        self.result = result
        self.pending: list[Row] = []
        self.window = settings.CAMPAIGN_MARK_EVERY
        self.beat_every = settings.CAMPAIGN_CLAIM_STALE_SECONDS / 3
        self.last_beat = self.last_check = time.monotonic()
        self.stopped = False

    def room(self) -> int:
        """Return how many messages may be handed to a transport now (at least one): the crash
        window less the sent rows not recorded yet, recorded first when none is left (or a
        second has passed: the claim is renewed and a pause seen even when all rows fail)."""
        if len(self.pending) >= self.window or time.monotonic() - self.last_check >= 1.0:
            self.flush()
        return self.window - len(self.pending)

    def _rows(self):
        return Send.objects.filter(batch=self.batch, status=Send.Status.SENDING)

    def sent(self, row: Row, message_id: str) -> None:
        """Note a row sent (recorded with its group, at the latest before the next ``room``)."""
        row.sent_at, row.message_id = timezone.now(), message_id
        row.attempts += 1
        self.pending.append(row)
        self.result.sent += 1

    def flush(self) -> None:
        """Record the pending sent rows; now and then renew the claim and look for a pause."""
        if self.pending:
            sends_mark_sent(
                batch=self.batch,
                rows=[
                    (row.pk, row.sent_at, row.message_id, row.address, row.attempts, row.parts)
                    for row in self.pending
                ],
            )
            self.pending = []
        clock = time.monotonic()
        if clock - self.last_beat >= self.beat_every:
            self._rows().update(claimed_at=timezone.now())
            self.last_beat = clock
        if clock - self.last_check >= 1.0:
            self.last_check = clock
            status = Campaign.objects.filter(pk=self.campaign.pk).values_list("status", flat=True)
            self.stopped = status.first() != Campaign.Status.SENDING

    def failed(self, row: Row, error: str, *, permanent: bool, bounce: bool = False) -> None:
        """Record a failure: failed for good (a bounce suppresses the address), or queued again
        with an exponential delay until CAMPAIGN_MAX_ATTEMPTS."""
        attempts = row.attempts + 1
        error = error[:2000]
        if permanent or attempts >= settings.CAMPAIGN_MAX_ATTEMPTS:
            self._rows().filter(pk=row.pk).update(
                status=Send.Status.FAILED, attempts=attempts, error=error, address=row.address
            )
            self.result.failed += 1
            if bounce:
                Suppression.objects.bulk_create(
                    [
                        Suppression(
                            channel=self.campaign.channel,
                            address=row.address.lower(),
                            reason=Suppression.Reason.HARD_BOUNCE,
                            detail=error,
                        )
                    ],
                    ignore_conflicts=True,
                )
            return
        delay = min(
            settings.CAMPAIGN_RETRY_BASE_SECONDS * 2 ** (attempts - 1),
            settings.CAMPAIGN_RETRY_MAX_SECONDS,
        )
        self._rows().filter(pk=row.pk).update(
            status=Send.Status.QUEUED,
            attempts=attempts,
            error=error,
            not_before=timezone.now() + datetime.timedelta(seconds=delay),
            batch=None,
            claimed_at=None,
        )
        self.result.retried += 1

    def release(self) -> None:
        """Record what is pending and put the batch's unsent rows back in the queue as they
        were (after a pause, or when the worker leaves early)."""
        self.flush()
        self._rows().update(status=Send.Status.QUEUED, batch=None, claimed_at=None)


def campaign_finish_if_done(*, campaign_id: int, now: datetime.datetime | None = None) -> bool:
    """Mark a one-off sending campaign sent (compare-and-set) once no row is left to send."""
    now = now or timezone.now()
    remaining = Send.objects.filter(campaign=OuterRef("pk"), status__in=_REMAINING)
    finished = (
        Campaign.objects.filter(
            pk=campaign_id, status=Campaign.Status.SENDING, kind=Campaign.Kind.ONE_OFF
        )
        .filter(~Exists(remaining))
        .update(status=Campaign.Status.SENT, finished_at=now)
    )
    if finished:
        counts = dict(
            Send.objects.filter(campaign_id=campaign_id)
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        CampaignChange.objects.create(
            campaign_id=campaign_id, action="finished", detail={"at": now.isoformat(), **counts}
        )
        campaign_finished_notify(campaign_id=campaign_id, counts=counts)
    return bool(finished)


def campaign_finished_notify(*, campaign_id: int, counts: dict[str, int]) -> None:
    """Tell the user who scheduled the campaign (else who made it) that its send finished."""
    campaign = Campaign.objects.only("name", "slug", "created_by_id").get(pk=campaign_id)
    scheduled_by = (
        CampaignChange.objects.filter(campaign_id=campaign_id, action="scheduled")
        .exclude(user=None)
        .values_list("user_id", flat=True)
        .first()
    )
    notification_send(
        user_id=scheduled_by or campaign.created_by_id,
        topic="campaign",
        level=Notification.Level.DONE,
        params={
            "name": campaign.name,
            "sent": counts.get(Send.Status.SENT, 0),
            "failed": counts.get(Send.Status.FAILED, 0),
            "skipped": counts.get(Send.Status.SKIPPED, 0),
        },
        url=reverse("campaigns:report", args=[campaign.slug]),
    )


def campaign_sends_sweep(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Re-queue rows whose worker died mid-batch; skip rows left queued by a cancelled campaign.

    A row claimed longer than CAMPAIGN_CLAIM_STALE_SECONDS ago (workers renew their claim while
    they send) is queued again with one more attempt, or failed after CAMPAIGN_MAX_ATTEMPTS.
    """
    now = now or timezone.now()
    stale = Send.objects.filter(
        status=Send.Status.SENDING,
        claimed_at__lt=now - datetime.timedelta(seconds=settings.CAMPAIGN_CLAIM_STALE_SECONDS),
    )
    limit = settings.CAMPAIGN_MAX_ATTEMPTS
    failed = stale.filter(attempts__gte=limit - 1).update(
        status=Send.Status.FAILED,
        attempts=F("attempts") + 1,
        error=ERROR_WORKER_DIED.dumps(attempts=limit),
    )
    requeued = stale.update(
        status=Send.Status.QUEUED, attempts=F("attempts") + 1, batch=None, claimed_at=None
    )
    cancelled = Send.objects.filter(
        campaign__status=Campaign.Status.CANCELLED,
        status__in=(Send.Status.QUEUED, Send.Status.WAITING),
    ).update(status=Send.Status.SKIPPED, skip_reason=Send.SkipReason.CANCELLED)
    return {"requeued": requeued, "failed": failed, "cancelled": cancelled}
