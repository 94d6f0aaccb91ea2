"""Send a campaign: the loop that claims a batch, guards it, renders, sends and records.

    campaign_send(campaign_id)                  # what the Celery task runs
      └ while time is left: _batch_send(...)
          ├ ledger.batch_claim → ledger.rows_load      (claim in id order, load the profiles)
          ├ guards.skip_reasons → ledger.skipped_record (consent, address, suppression, cap)
          └ per group of BatchLedger.room() rows:       (the crash window, see ledger)
              render → transport.send(…, pacer.wait) → BatchLedger.sent / failed

All of it runs in the worker's one thread on one database connection; the transport's
connection stays open for all the batches of a call. During quiet hours nothing is claimed:
the due rows wait until the period ends (``deferred``).
"""

import datetime
import time

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from campaigns.channels import channel_get
from campaigns.delivery import guards, ledger
from campaigns.delivery.ledger import BatchLedger, BatchResult, ClaimCursor, Row
from campaigns.delivery.pacing import Pacer, channel_pacer
from campaigns.delivery.render import NotRendered, Renderer
from campaigns.delivery.transports import ERROR_CONNECTION, transport_for
from campaigns.models import Campaign, CampaignChange, Channel, Send
from campaigns.selectors import ACTION_HALTED, HALTED_REASON
from core.errors import coded

ERROR_RENDER = coded("send.render", gettext_noop("The message could not be rendered: {error}"))
ERROR_HALTED = HALTED_REASON
# A send none of whose messages went out yet is stopped when most of its first HALT_SAMPLE
# messages (or all its rows, when fewer) cannot be made: the content or the sender is wrong
# for this audience, and every other row would fail the same way.
HALT_SAMPLE = 10


class _Prepared:
    """A claimed batch with its guards applied: the rows to send, and the counts so far."""

    def __init__(self, batch, rows: list[Row], result: BatchResult):
        self.batch = batch
        self.rows = rows
        self.result = result


def _batch_prepare(
    *, campaign: Campaign, now: datetime.datetime, limit: int, cursor: ClaimCursor
) -> _Prepared | None:
    """Claim a batch after ``cursor``, load its rows, apply the guards and record the skipped
    rows; return None when no row is due."""
    batch = ledger.batch_claim(campaign_id=campaign.pk, now=now, limit=limit, cursor=cursor)
    if batch is None:
        return None
    rows = ledger.rows_load(campaign, batch)
    if rows:
        cursor.after = rows[-1].pk
    result = BatchResult(claimed=len(rows))
    reasons = guards.skip_reasons(campaign, rows, now)
    result.skipped = ledger.skipped_record(batch, reasons)
    return _Prepared(batch, [row for row in rows if row.pk not in reasons], result)


def _defer(campaign_id: int, resume_at: datetime.datetime) -> BatchResult:
    """Move the campaign's queued rows due before ``resume_at`` (quiet hours) to then."""
    result = BatchResult()
    result.deferred = (
        Send.objects.filter(campaign_id=campaign_id, status=Send.Status.QUEUED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lt=resume_at))
        .update(not_before=resume_at)
    )
    return result


class _FirstMessages:
    """Watch the first messages of a send that has sent nothing yet; say when most failed."""

    def __init__(self, campaign: Campaign, size: int):
        self.campaign = campaign
        self.active = (
            campaign.kind != Campaign.Kind.FLOW
            and not Send.objects.filter(campaign=campaign, status=Send.Status.SENT).exists()
        )
        self.sample = min(size, HALT_SAMPLE)
        self.tried = self.failed = 0
        self.error = ""

    def note(self, error: str = "") -> None:
        self.tried += 1
        if error:
            self.failed += 1
            self.error = self.error or error

    def halts(self) -> bool:
        """Return True (once) when the sample is in and most of it failed: stop the send."""
        if not self.active or self.tried < self.sample:
            return False
        self.active = False
        if self.failed * 2 <= self.tried:
            return False
        detail = {"failed": self.failed, "tried": self.tried, "error": self.error}
        halted = Campaign.objects.filter(
            pk=self.campaign.pk, status=Campaign.Status.SENDING
        ).update(status=Campaign.Status.PAUSED, updated_at=timezone.now())
        if halted:
            CampaignChange.objects.create(
                campaign_id=self.campaign.pk, action=ACTION_HALTED, detail=detail
            )
        return True


def _rows_send(campaign, rows, book: BatchLedger, transport, pacer: Pacer) -> None:
    """Send the rows in groups of ``book.room()``, recording every outcome."""
    render = Renderer(campaign)
    spec = channel_get(campaign.channel)

    def make(row):
        return spec.build(render, row)

    first = _FirstMessages(campaign, len(rows))
    start = 0
    while start < len(rows) and not book.stopped:
        group = rows[start : start + book.room()]
        start += len(group)
        try:
            transport.open()  # once, or again after the connection was lost
        except Exception as exc:
            for row in group:
                book.failed(row, ERROR_CONNECTION.dumps(error=exc), permanent=False)
            continue
        ready, messages = [], []
        for row in group:
            try:
                messages.append(make(row))
            except NotRendered as exc:
                book.failed(row, ERROR_RENDER.dumps(error=exc), permanent=True)
                first.note(str(exc))
                continue
            first.note()
            ready.append(row)
        if first.halts():
            book.stopped = True  # the rows not sent go back to the queue (book.release)
            break
        if not messages:
            continue
        outcomes = transport.send(messages, pacer.wait)
        for row, message, outcome in zip(ready, messages, outcomes, strict=False):
            if not outcome.error:
                book.sent(row, outcome.provider_id or message.message_id)  # SMS: provider_id
            else:
                book.failed(row, outcome.error, permanent=outcome.permanent, bounce=outcome.bounce)
    book.release()  # records what is pending; rows left unsent (a pause) go back to the queue


def _batch_send(
    *,
    campaign_id: int,
    now: datetime.datetime | None,
    limit: int | None,
    pacer: Pacer | None,
    transport,
    cursor: ClaimCursor,
) -> BatchResult | None:
    """Send one batch as ``campaign_send_batch`` does, on ``transport``, claimed after
    ``cursor``."""
    now = now or timezone.now()
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None:
        return None
    resume_at = guards.quiet_hours_end(now=now)
    if resume_at is not None:
        return _defer(campaign_id, resume_at)
    prepared = _batch_prepare(
        campaign=campaign, now=now, limit=limit or settings.CAMPAIGN_BATCH_SIZE, cursor=cursor
    )
    if prepared is None:
        return BatchResult()
    if prepared.rows:
        book = BatchLedger(campaign, prepared.batch, prepared.result)
        pacer = pacer or channel_pacer(channel=campaign.channel)
        _rows_send(campaign, prepared.rows, book, transport, pacer)
    return prepared.result


def campaign_send_batch(
    *,
    campaign_id: int,
    now: datetime.datetime | None = None,
    limit: int | None = None,
    pacer: Pacer | None = None,
) -> BatchResult | None:
    """Claim one batch of a sending campaign, apply the guards, send it and record each row.

    Return None when the campaign is not sending (paused, cancelled, finished); a result with
    ``claimed == 0`` when no row is due. During quiet hours nothing is claimed: the due rows wait
    until the quiet period ends (``deferred``).
    """
    channel = Campaign.objects.filter(pk=campaign_id).values_list("channel", flat=True).first()
    transport = transport_for(channel or Channel.EMAIL)
    try:
        return _batch_send(
            campaign_id=campaign_id,
            now=now,
            limit=limit,
            pacer=pacer,
            transport=transport,
            cursor=ClaimCursor(),
        )
    finally:
        transport.close()


def campaign_send(
    *, campaign_id: int, budget_seconds: float | None = None, limit: int | None = None
) -> BatchResult:
    """Send batches of a campaign until none is due or the time budget is spent; mark the
    campaign sent when no row is left. One transport connection serves all the batches."""
    budget = (
        settings.CAMPAIGN_SEND_TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    )
    deadline = time.monotonic() + budget
    total = BatchResult()
    campaign = Campaign.objects.filter(pk=campaign_id).only("channel").first()
    if campaign is None:
        return total
    pacer = channel_pacer(channel=campaign.channel)
    transport = transport_for(campaign.channel)
    cursor = ClaimCursor()
    try:
        while time.monotonic() < deadline:
            result = _batch_send(
                campaign_id=campaign_id,
                now=None,
                limit=limit,
                pacer=pacer,
                transport=transport,
                cursor=cursor,
            )
            if result is None:
                break
            total.add(result)
            if not result.claimed:
                break
    finally:
        transport.close()
    ledger.campaign_finish_if_done(campaign_id=campaign_id)
    return total
