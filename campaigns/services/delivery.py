"""Deliver campaigns: claim batches of the send ledger, apply the guards, send, record the outcome.

A batch is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (a compare-and-set
UPDATE on SQLite), so any number of workers share a campaign without sending a row twice; a
worker claims in id order from where its last batch ended (``_ClaimCursor``). Every
message passes the guards at send time, each one query per batch: consent for the campaign's
channel and purpose, a valid address, no suppression, the global frequency cap; during quiet
hours rows wait (``not_before``) instead of being dropped. At most CAMPAIGN_MARK_EVERY messages
are ever handed to the sender and not yet recorded sent, so a worker killed mid-batch can resend
at most that many (the sweep re-queues its rows); rows already recorded are never sent again.

Email through Django's SMTP backend goes fast: the SMTP relay (``campaigns.relay``, a process of
the worker's own; a sender thread if CAMPAIGN_SMTP_RELAY is off) does only the SMTP conversation
while the worker renders and builds the next messages (bytes written by ``campaigns.mail``, not
by the ``email`` package); sent rows are recorded in groups of half that window. One connection
serves all the batches of a ``campaign_send`` call (``_EmailLine``). Any other email backend
(anymail providers, locmem) gets ``EmailMultiAlternatives`` messages, sent one by one in the
worker's thread.

On PostgreSQL outside a transaction (a worker, not a test case), two more threads, each with
its own connection, keep the database off the sending path: one records the outcomes, the other
prepares the next batch (claim, load, guards, skipped rows) once half of the current one is
handed to the sender. The guards of a message therefore run at most about one and a half batches
before it is sent (one batch without prefetching); a prepared batch the worker does not send is
put back in the queue, and one left by a killed worker is claimed like any other, so the sweep
re-queues it. Elsewhere (SQLite, tests inside a transaction) the worker does both itself.

On PostgreSQL the small commits that record sent rows run with ``synchronous_commit`` off:
they are visible at once and survive a crash of the worker like any commit; only a crash of the
database server itself could lose the last few hundred milliseconds of them (the WAL writer's
delay), and those rows would then be sent again after the sweep. That trade — a rare duplicate
after a database crash against an fsync wait every few messages — is the one made here; every
other write of the delivery keeps the normal synchronous commit.

Rate limit: each worker keeps to CAMPAIGN_RATE_LIMIT_<CHANNEL> / CAMPAIGN_WORKERS messages per
second by pacing its own sends; this needs no shared state and holds as long as no more than
CAMPAIGN_WORKERS workers send at once.
"""

import datetime
import functools
import logging
import queue
import re
import smtplib
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, fields
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import sanitize_address
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Lower
from django.urls import NoReverseMatch
from django.utils import timezone

from campaigns.mail import MessageBuilder, smtp_fast_path, smtp_relay_path, smtp_sendmail
from campaigns.models import Campaign, CampaignChange, Channel, Send, Suppression, Variant
from campaigns.relay import Relay, RelayNotSent
from campaigns.services.audience import campaign_start, campaign_triggers_process, campaigns_due
from campaigns.services.content import (
    PROFILE_FIELDS,
    ContentError,
    profile_context,
    variant_compile,
)
from campaigns.tracking import Tracker, html_track
from profiles.services.consent import consent_sendable_ids
from profiles.services.consent_links import ConsentLinker

logger = logging.getLogger(__name__)

ERROR_QUIET_HOURS = (
    "CAMPAIGN_QUIET_HOURS={value!r} is not a quiet period like 21:00-08:00 (HH:MM-HH:MM)."
)
ERROR_WORKER_DIED = "The worker sending this message stopped; it was tried {attempts} times."
ERROR_RENDER = "The message could not be rendered: {error}"
ERROR_CONNECTION = "Could not connect to send: {error}"

_QUIET = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")
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


class Pacer:
    """Keep a loop to at most ``rate`` iterations per second (0: no limit)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        """Sleep until the next message may go."""
        if not self.interval:
            return
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = max(self.next_at, now) + self.interval


def channel_pacer(*, channel: str) -> Pacer:
    """Return a pacer keeping this worker to its share of the channel's rate limit."""
    limit = {
        Channel.EMAIL: settings.CAMPAIGN_RATE_LIMIT_EMAIL,
        Channel.SMS: settings.CAMPAIGN_RATE_LIMIT_SMS,
    }.get(channel, 0)
    return Pacer(limit / max(settings.CAMPAIGN_WORKERS, 1) if limit else 0)


# --- quiet hours -------------------------------------------------------------------------------


def quiet_hours() -> tuple[datetime.time, datetime.time] | None:
    """Return CAMPAIGN_QUIET_HOURS as (start, end), or None when there are none."""
    value = (settings.CAMPAIGN_QUIET_HOURS or "").replace(" ", "")
    if not value:
        return None
    match = _QUIET.fullmatch(value)
    try:
        start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
        start, end = datetime.time(start_h, start_m), datetime.time(end_h, end_m)
    except (AttributeError, ValueError):
        raise ImproperlyConfigured(ERROR_QUIET_HOURS.format(value=value)) from None
    if start == end:
        raise ImproperlyConfigured(ERROR_QUIET_HOURS.format(value=value))
    return start, end


def quiet_hours_end(*, now: datetime.datetime) -> datetime.datetime | None:
    """Return when the quiet period ``now`` falls in ends, or None if ``now`` is not quiet."""
    period = quiet_hours()
    if period is None:
        return None
    start, end = period
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    moment = local.time()
    if start < end:
        quiet = start <= moment < end
        day = local.date()
    else:  # crosses midnight, e.g. 21:00-08:00
        quiet = moment >= start or moment < end
        day = local.date() + datetime.timedelta(days=1 if moment >= start else 0)
    if not quiet:
        return None
    return datetime.datetime.combine(day, end, tzinfo=zone)


# --- claiming ----------------------------------------------------------------------------------


def _claimable(campaign_id: int, now: datetime.datetime):
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
        due = _claimable(campaign_id, now).order_by("pk")
        if after:
            due = due.filter(pk__gt=after)
        if db_connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return None
        claimed = Send.objects.filter(pk__in=ids, status=Send.Status.QUEUED).update(
            status=Send.Status.SENDING, batch=batch, claimed_at=now
        )
    return batch if claimed else None


# --- the guards --------------------------------------------------------------------------------


def _address(channel: str, email, phone) -> str:
    """Return the address on ``channel`` (email, or E.164 number), or "" if it is invalid."""
    if channel == Channel.EMAIL:
        email = (email or "").strip()
        try:
            validate_email(email)
        except ValidationError:
            return ""
        return email
    if not phone or not getattr(phone, "is_valid", lambda: False)():
        return ""
    return phone.as_e164


class _Row:
    """One claimed ledger row, loaded as plain values: what sending and recording it need."""

    __slots__ = (
        "address",
        "attempts",
        "campaign_id",
        "context",
        "message_id",
        "pk",
        "profile_id",
        "sent_at",
        "variant",
    )

    def __init__(self, pk, campaign_id, profile_id, variant, attempts, context, address):
        self.pk = pk
        self.campaign_id = campaign_id
        self.profile_id = profile_id
        self.variant = variant
        self.attempts = attempts
        self.context = context  # the profile as templates see it (``profile_context``)
        self.address = address
        self.sent_at = None
        self.message_id = ""


def _profile_fields(campaign: Campaign, variants) -> tuple[str, ...]:
    """Return the profile fields a batch needs: its channel's address and those templates read.

    A field that no template of the campaign names is not loaded: no message can show it. If a
    variant does not compile, all are loaded (its rows then fail to render, as before).
    """
    used = {"email" if campaign.channel == Channel.EMAIL else "phone"}  # as _address reads
    for variant in variants:
        try:
            used |= variant_compile(campaign=campaign, variant=variant).variables
        except ContentError:
            return PROFILE_FIELDS
    return tuple(field for field in PROFILE_FIELDS if field in used)


def _rows_load(campaign: Campaign, batch: uuid.UUID) -> list[_Row]:
    """Return a claimed batch's rows, with the profile as templates see it, in id order."""
    variants = {variant.pk: variant for variant in Variant.objects.filter(campaign=campaign)}
    fields = _profile_fields(campaign, variants.values())
    columns = ("pk", "campaign_id", "profile_id", "variant_id", "attempts")
    values = (
        Send.objects.filter(batch=batch, status=Send.Status.SENDING)
        .order_by("pk")
        .values_list(*columns, *(f"profile__{field}" for field in fields))
    )
    rows = []
    for pk, campaign_id, profile_id, variant_id, attempts, *profile_values in values:
        profile = dict(zip(fields, profile_values, strict=True))
        address = _address(campaign.channel, profile.get("email"), profile.get("phone"))
        context = profile_context(profile)
        variant = variants.get(variant_id)
        rows.append(_Row(pk, campaign_id, profile_id, variant, attempts, context, address))
    return rows


def suppressions_of(*, channel: str, addresses: set[str]):
    """Return the suppressions of these lower-case addresses on ``channel``, with ``key`` the
    address in lower case: addresses compare case-insensitively, whoever wrote the row
    (``suppression_lookup_idx``)."""
    return Suppression.objects.annotate(key=Lower("address")).filter(
        channel=channel, key__in=addresses
    )


def _skip_reasons(campaign: Campaign, rows: list[_Row], now: datetime.datetime) -> dict[int, str]:
    """Return {send id: skip reason} for the rows a guard stops (one query per guard)."""
    reasons: dict[int, str] = {}
    profile_ids = [row.profile_id for row in rows]
    allowed = consent_sendable_ids(
        profile_ids=profile_ids, channel=campaign.channel, purpose=campaign.purpose
    )
    for row in rows:
        if row.profile_id not in allowed:
            reasons[row.pk] = Send.SkipReason.NO_CONSENT
        elif not row.address:
            reasons[row.pk] = Send.SkipReason.NO_ADDRESS
    rest = [row for row in rows if row.pk not in reasons]
    if rest:
        suppressed = set(
            suppressions_of(
                channel=campaign.channel, addresses={row.address.lower() for row in rest}
            ).values_list("key", flat=True)
        )
        for row in rest:
            if row.address.lower() in suppressed:
                reasons[row.pk] = Send.SkipReason.SUPPRESSED
    cap = settings.CAMPAIGN_FREQUENCY_CAP
    rest = [row for row in rows if row.pk not in reasons]
    if cap and rest:
        since = now - datetime.timedelta(hours=settings.CAMPAIGN_FREQUENCY_WINDOW_HOURS)
        counts = dict(
            Send.objects.filter(profile_id__in=[row.profile_id for row in rest], sent_at__gte=since)
            .values("profile_id")
            .annotate(n=Count("pk"))
            .values_list("profile_id", "n")
        )
        for row in rest:
            if counts.get(row.profile_id, 0) >= cap:
                reasons[row.pk] = Send.SkipReason.FREQUENCY_CAP
    return reasons


# --- sending -----------------------------------------------------------------------------------


def _sent_record(batch: uuid.UUID, rows: list[_Row]) -> None:
    """Mark rows sent in one round trip, only while this batch still holds them.

    PostgreSQL: one ``UPDATE … FROM (VALUES …)`` statement, its own transaction, committed with
    ``synchronous_commit`` off (``set_config(…, true)`` is ``SET LOCAL`` for this statement's
    transaction; see the module docstring). Elsewhere: an executemany in one transaction.
    """
    prep = Send._meta.get_field
    batch_value = prep("batch").get_db_prep_value(batch, db_connection)
    table = db_connection.ops.quote_name(Send._meta.db_table)
    if db_connection.vendor == "postgresql":
        values = ", ".join(
            ["(%s::bigint, %s::timestamptz, %s::text, %s::text, %s::integer)"] * len(rows)
        )
        sql = (
            "WITH options AS (SELECT set_config('synchronous_commit', 'off', true)) "
            f"UPDATE {table} AS s SET status = %s, sent_at = v.sent_at, "
            "message_id = v.message_id, address = v.address, attempts = v.attempts, error = '' "
            f"FROM options, (VALUES {values}) AS v (id, sent_at, message_id, address, attempts) "
            # ``status || ''`` keeps the planner off send_stale_idx: its statistics rarely see a
            # row in "sending", so it would read every row being sent (all workers' batches) to
            # find these few, where the primary key finds each at once.
            "WHERE s.id = v.id AND s.batch = %s AND s.status || '' = %s"
        )
        params: list = [Send.Status.SENT]
        for row in rows:
            params += [row.pk, row.sent_at, row.message_id, row.address, row.attempts]
        params += [batch_value, Send.Status.SENDING]
        with db_connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    sql = (
        f"UPDATE {table} SET status = %s, sent_at = %s, message_id = %s, "
        f"address = %s, attempts = %s, error = '' WHERE id = %s AND batch = %s AND status = %s"
    )
    params = [
        (
            Send.Status.SENT,
            prep("sent_at").get_db_prep_value(row.sent_at, db_connection),
            row.message_id,
            row.address,
            row.attempts,
            row.pk,
            batch_value,
            Send.Status.SENDING,
        )
        for row in rows
    ]
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.executemany(sql, params)


class _Recorder:
    """Record the outcome of a batch's rows: sent rows in groups, failures at once."""

    def __init__(self, campaign: Campaign, batch: uuid.UUID, result: BatchResult):
        self.campaign = campaign
        self.batch = batch
        self.result = result
        self.pending: list[_Row] = []
        self.every = settings.CAMPAIGN_MARK_EVERY
        self.beat_every = settings.CAMPAIGN_CLAIM_STALE_SECONDS / 3
        self.last_beat = self.last_check = time.monotonic()
        self.stopped = False

    def rows(self):
        return Send.objects.filter(batch=self.batch, status=Send.Status.SENDING)

    def sent(self, row: _Row, message_id: str) -> None:
        row.sent_at, row.message_id = timezone.now(), message_id
        row.attempts += 1
        self.pending.append(row)
        self.result.sent += 1
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        """Record the pending sent rows; now and then renew the claim and look for a pause."""
        if self.pending:
            _sent_record(self.batch, self.pending)
            self.pending = []
        clock = time.monotonic()
        if clock - self.last_beat >= self.beat_every:
            self.rows().update(claimed_at=timezone.now())
            self.last_beat = clock
        if clock - self.last_check >= 1.0:
            self.last_check = clock
            status = Campaign.objects.filter(pk=self.campaign.pk).values_list("status", flat=True)
            self.stopped = status.first() != Campaign.Status.SENDING

    def failed(self, row: _Row, error: str, *, permanent: bool, bounce: bool = False) -> None:
        attempts = row.attempts + 1
        error = error[:2000]
        if permanent or attempts >= settings.CAMPAIGN_MAX_ATTEMPTS:
            self.rows().filter(pk=row.pk).update(
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
        self.rows().filter(pk=row.pk).update(
            status=Send.Status.QUEUED,
            attempts=attempts,
            error=error,
            not_before=timezone.now() + datetime.timedelta(seconds=delay),
            batch=None,
            claimed_at=None,
        )
        self.result.retried += 1

    def release(self) -> None:
        """Put the batch's unsent rows back in the queue as they were (after a pause)."""
        self.flush()
        self.rows().update(status=Send.Status.QUEUED, batch=None, claimed_at=None)


class _Links:
    """A batch's consent links: one signed token per message for both URLs, prefixes made once."""

    def __init__(self, campaign: Campaign):
        try:
            self.linker = ConsentLinker(channel=campaign.channel, purpose=campaign.purpose)
        except NoReverseMatch:  # the public consent pages are not routed in this deployment
            self.linker = None

    def __call__(self, profile_id: int) -> dict[str, str]:
        if self.linker is None:
            return {"unsubscribe_url": "", "preferences_url": ""}
        unsubscribe, preferences = self.linker.urls(profile_id)
        return {"unsubscribe_url": unsubscribe, "preferences_url": preferences}


def _render(campaign: Campaign, row: _Row, links: dict[str, str]):
    """Return the row's message, as ``message_render`` makes it with ``links`` as ``extra``."""
    compiled = variant_compile(campaign=campaign, variant=row.variant)
    return compiled.render({**row.context, **links})


def _tracked(html: str, row: _Row, links: dict[str, str], tracker: Tracker | None) -> str:
    """Return the HTML with tracked links and the open pixel (when there is a tracker)."""
    if tracker is None:
        return html
    keep = {url for url in links.values() if url}
    return html_track(html, send_id=row.pk, keep=keep, tracker=tracker)


@functools.lru_cache(maxsize=64)
def _message_id_domain(from_email: str) -> str:
    return parseaddr(from_email)[1].rpartition("@")[2] or str(DNS_NAME)


def message_id_make(*, send, from_email: str) -> str:
    """Return the Message-ID of a ledger row's email: ``<send-{id}.c{campaign}@{domain}>``."""
    return f"<send-{send.pk}.c{send.campaign_id}@{_message_id_domain(from_email)}>"


def _unsubscribe_header(url: str) -> str:
    targets = [f"<{url}>"] if url else []
    if settings.CAMPAIGN_UNSUBSCRIBE_MAILTO:
        targets.append(f"<mailto:{settings.CAMPAIGN_UNSUBSCRIBE_MAILTO}?subject=unsubscribe>")
    return ", ".join(targets)


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in exc.recipients.values()]
        return codes[0] if codes else None
    return getattr(exc, "smtp_code", None)


_DRAINED = object()  # queued after a batch's last message: its outcomes are all taken by then


class _Outgoing:
    """One message handed to the transport: its row, and either bytes for SMTP or a Django email."""

    __slots__ = ("envelope", "message", "message_id", "row", "submitted")

    def __init__(self, row: _Row, message_id: str = ""):
        self.row = row
        self.message_id = message_id
        self.envelope: tuple[str, str, bytes] | None = None
        self.message: EmailMultiAlternatives | None = None
        self.submitted = False  # handed to the transport (it counts in the crash window)


class _NotSent(Exception):
    """A message the transport did not try: the connection was lost and could not be reopened."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class _NotRendered(Exception):
    """A message whose template cannot render for this profile."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class _Transport:
    """Send messages one at a time on one backend connection; report each outcome, in order.

    Threaded (Django's SMTP backend): a sender thread does only the SMTP conversation, so the
    worker renders and builds the next messages while the server answers; the thread never
    touches the database (the caller records outcomes in its own thread). Inline (any other
    backend, e.g. an anymail provider or locmem in tests): each message is sent when submitted.
    After an error without an SMTP code the connection is reopened; if that fails, the
    transport is ``broken`` and reports the messages still given to it as ``_NotSent``.
    """

    def __init__(self, mail, *, threaded: bool):
        self.mail = mail
        self.outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self.waiting = 0  # submitted, outcome not taken yet
        self.broken: Exception | None = None
        self.cancelled = False
        self.jobs: queue.SimpleQueue | None = None
        self.thread: threading.Thread | None = None
        if threaded:
            self.jobs = queue.SimpleQueue()
            self.thread = threading.Thread(target=self._run, name="campaign-smtp", daemon=True)
            self.thread.start()

    def submit(self, item: _Outgoing) -> None:
        self.waiting += 1
        if self.jobs is None:
            self.outcomes.put((item, self._send(item)))
        else:
            self.jobs.put(item)

    def take(self, *, block: bool) -> tuple[_Outgoing, Exception | None] | None:
        """Return the next (message, error or None), or None if none is ready (not blocking)."""
        if not self.waiting:
            return None
        try:
            outcome = self.outcomes.get(block=block)
        except queue.Empty:
            return None
        self.waiting -= 1
        return outcome

    def mark(self) -> None:
        """Put ``_DRAINED`` among the outcomes, after those of the messages submitted so far
        (threaded only: ``_ThreadBook`` asks, and it records only behind a sender thread)."""
        self.jobs.put(_DRAINED)

    def close(self) -> None:
        """Stop the sender thread once it has sent what it was given (all of it, unless
        ``cancelled``)."""
        if self.thread is not None:
            self.jobs.put(None)
            self.thread.join()

    def _run(self) -> None:
        while (item := self.jobs.get()) is not None:
            if item is _DRAINED:
                self.outcomes.put(item)
            elif not self.cancelled:  # cancelled: the worker gave up, the rows stay claimed
                self.outcomes.put((item, self._send(item)))

    def _send(self, item: _Outgoing) -> Exception | None:
        if self.broken is not None:
            return _NotSent(self.broken)
        try:
            if item.envelope is not None:
                sender, recipient, data = item.envelope
                smtp_sendmail(self.mail.connection, sender, recipient, data)
            else:
                self.mail.send_messages([item.message])
        except Exception as exc:
            if _smtp_code(exc) is None:  # the connection itself failed: open a new one
                try:
                    self.mail.close()
                    self.mail.open()
                except Exception as again:
                    self.broken = again
            return exc
        return None


class _RelayTransport(_Transport):
    """The transport through an SMTP relay process (``campaigns.relay``): the worker's threads
    never wait for the SMTP server, nor the SMTP conversation for the worker's GIL."""

    def __init__(self, mail):  # the base class's state, without a sender thread
        self.mail = mail
        self.outcomes = queue.SimpleQueue()
        self.waiting = 0
        self.cancelled = False
        self.jobs = self.thread = None
        self.relay = Relay(mail, self.outcomes)  # raises when it cannot connect

    @property
    def broken(self) -> Exception | None:
        return self.relay.broken

    def submit(self, item: _Outgoing) -> None:
        self.waiting += 1
        if item.envelope is None:  # a message the fast builder left to Django: as _send does
            message, encoding = item.message, item.message.encoding or settings.DEFAULT_CHARSET
            sender = sanitize_address(message.from_email, encoding)
            (recipient,) = (sanitize_address(a, encoding) for a in message.recipients())
            item.envelope = (sender, recipient, message.message().as_bytes(linesep="\r\n"))
        self.relay.submit(item, *item.envelope)

    def mark(self) -> None:
        self.relay.mark(_DRAINED)

    def close(self) -> None:
        self.relay.close(cancelled=self.cancelled)


def _outcome_record(recorder: _Recorder, item: _Outgoing, error: Exception | None) -> None:
    row = item.row
    if error is None:
        recorder.sent(row, item.message_id)
        return
    if isinstance(error, (_NotSent, RelayNotSent)):
        cause = error.cause if isinstance(error, _NotSent) else error
        recorder.failed(row, ERROR_CONNECTION.format(error=cause), permanent=False)
        return
    if isinstance(error, _NotRendered):
        recorder.failed(row, ERROR_RENDER.format(error=error.cause), permanent=True)
        return
    code = _smtp_code(error)
    if code is not None and 500 <= code < 600:
        bounce = isinstance(error, smtplib.SMTPRecipientsRefused)
        recorder.failed(row, f"{code} {error}", permanent=True, bounce=bounce)
        return
    name = getattr(error, "name", type(error).__name__)  # a RelayError names the relay's error
    recorder.failed(row, f"{name}: {error}", permanent=False)


class _InlineBook:
    """Record a batch's outcomes in the worker's thread, between the messages it builds."""

    def __init__(self, transport: _Transport):
        self.recorder: _Recorder | None = None
        self.transport = transport

    def begin(self, recorder: _Recorder) -> None:
        """Record the outcomes from now on with ``recorder`` (a new batch; the last is drained)."""
        self.recorder = recorder

    def _collect(self, *, block: bool) -> None:
        while (outcome := self.transport.take(block=block)) is not None:
            _outcome_record(self.recorder, *outcome)
            block = False

    def put(self, item: _Outgoing, error: Exception) -> None:
        """Record the outcome of a message the worker did not hand to the transport."""
        _outcome_record(self.recorder, item, error)

    def poll(self) -> None:
        """Record the outcomes that are ready."""
        self._collect(block=False)

    def wait_room(self, submitted: int, window: int) -> None:
        """Wait until fewer than ``window`` handed messages are not recorded yet."""
        transport = self.transport
        while transport.waiting and transport.waiting + len(self.recorder.pending) >= window:
            self._collect(block=True)

    def drain(self) -> None:
        """Record the outcome of every handed message (they are all sent or failed), and the
        pending sent rows."""
        while self.transport.waiting:
            self._collect(block=True)
        self.recorder.flush()

    def close(self) -> None:
        """Record the pending sent rows (after the transport stopped)."""
        if self.recorder is not None:
            self.recorder.flush()


class _ThreadBook:
    """Record the outcomes in a thread with its own database connection, batch after batch.

    The worker then only renders and builds while the sender thread sends and this one commits.
    It reads the sender's outcomes (and the worker's own: a message not rendered or not sent)
    from the transport's queue; ``settled`` counts the batch's handed messages recorded in the
    database, which keeps the crash window. Used where ``_Prefetcher`` is (a second connection
    sees all).
    """

    def __init__(self, transport: _Transport):
        self.transport = transport
        self.outcomes = transport.outcomes
        self.recorder: _Recorder | None = None
        self.taken = 0  # outcomes of the batch's handed messages taken from the queue
        self.settled = 0
        self.drained = False
        self.error: BaseException | None = None
        self.raised = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="campaign-record", daemon=True)
        self.thread.start()

    def begin(self, recorder: _Recorder) -> None:
        """Record the outcomes from now on with ``recorder`` (a new batch; the last is drained:
        the thread waits for an outcome and reads these only after the next one is queued)."""
        self.recorder = recorder
        self.taken = self.settled = 0

    def put(self, item: _Outgoing, error: Exception) -> None:
        self.outcomes.put((item, error))

    def poll(self) -> None:
        self._raise()

    def wait_room(self, submitted: int, window: int) -> None:
        with self.changed:
            while submitted - self.settled >= window and self.error is None:
                self.changed.wait()
        self._raise()

    def drain(self) -> None:
        """Wait until every outcome given so far is recorded, the pending sent rows too."""
        with self.changed:
            self.drained = False
        self.transport.mark()
        with self.changed:
            while not self.drained and self.error is None:
                self.changed.wait()
        self._raise()

    def close(self) -> None:
        self.outcomes.put(None)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None and not self.raised:
            self.raised = True
            raise self.error

    def _run(self) -> None:
        try:
            while (outcome := self.outcomes.get()) is not None:
                recorder = self.recorder
                if outcome is _DRAINED:
                    recorder.flush()
                    with self.changed:
                        self.drained = True
                        self.changed.notify()
                    continue
                _outcome_record(recorder, *outcome)
                self.taken += outcome[0].submitted
                with self.changed:
                    self.settled = self.taken - len(recorder.pending)  # recorded or failed
                    self.changed.notify()
            if self.recorder is not None:
                self.recorder.flush()
        except BaseException as exc:  # the worker raises it; the rows stay for the sweep
            self.error = exc
        finally:
            with self.changed:
                self.changed.notify()
            db_connection.close()  # this thread's own connection


class _EmailLine:
    """A worker's way out for emails: one connection, and its sender and recording threads.

    ``campaign_send`` keeps one line open for all the batches it sends, so a batch does not
    open a connection, start threads or connect the recording thread to the database again; it
    only waits, at its end, until its outcomes are recorded. A connection lost and not reopened
    is replaced at the next batch.
    """

    def __init__(self):
        self.mail = None
        self.transport: _Transport | None = None
        self.book: _InlineBook | _ThreadBook | None = None
        self.fast = False

    def begin(self, recorder: _Recorder) -> Exception | None:
        """Open the line if it is not (or lost its connection) and record the next batch's
        outcomes with ``recorder``; return the error if the connection cannot be opened."""
        if self.transport is not None and self.transport.broken is not None:
            self.close()
        if self.mail is None:
            mail = get_connection(fail_silently=False)
            fast = smtp_fast_path(mail)
            try:
                if fast and settings.CAMPAIGN_SMTP_RELAY and smtp_relay_path(mail):
                    transport = _RelayTransport(mail)
                else:
                    mail.open()
                    transport = _Transport(mail, threaded=fast)
            except Exception as exc:
                return exc
            self.mail, self.fast, self.transport = mail, fast, transport
            threaded = self.fast and _second_connection_usable()
            self.book = (_ThreadBook if threaded else _InlineBook)(self.transport)
        self.book.begin(recorder)
        return None

    def close(self, *, cancelled: bool = False) -> None:
        """Close the line once what it was given is sent and recorded; ``cancelled`` (leaving
        on an error): send nothing more, the rows not recorded stay claimed."""
        if self.mail is None:
            return
        mail, transport, book = self.mail, self.transport, self.book
        self.mail = self.transport = self.book = None
        transport.cancelled = cancelled
        transport.close()
        try:
            book.close()
        finally:
            try:
                mail.close()
            except Exception:  # closing a broken connection must not hide the outcome
                logger.warning("Closing the email connection failed", exc_info=True)


def _send_email(
    campaign,
    rows,
    recorder: _Recorder,
    pacer: Pacer,
    halfway: Callable[[], None] | None = None,
    line: _EmailLine | None = None,
) -> None:
    """Render, build and send a batch's emails on ``line`` (a line of its own if None); record
    every outcome before returning.

    At most CAMPAIGN_MARK_EVERY messages are ever handed to the transport and not yet recorded
    sent in the database: that is all a worker killed mid-batch can send twice. With the
    sender thread, sent rows are recorded in groups of half that window, so the thread always
    has messages to send while they are committed (by ``_ThreadBook`` or ``_InlineBook``).
    ``halfway()`` is called once half of the rows are handed over.
    """
    own = line is None
    line = line or _EmailLine()
    error = line.begin(recorder)
    if error is not None:
        for row in rows:
            recorder.failed(row, ERROR_CONNECTION.format(error=error), permanent=False)
        return
    from_email = campaign.from_email or settings.DEFAULT_FROM_EMAIL
    mail, transport, book, fast = line.mail, line.transport, line.book, line.fast
    builder = MessageBuilder(from_email=from_email) if fast else None
    window = settings.CAMPAIGN_MARK_EVERY
    if fast:
        recorder.every = max(1, window // 2)
    links_of = _Links(campaign)
    tracker = Tracker() if settings.CAMPAIGN_TRACKING else None
    half = len(rows) // 2
    submitted = 0
    finished = False
    try:
        for index, row in enumerate(rows):
            if recorder.stopped:
                break
            if transport.broken is not None:
                for unsent in rows[index:]:
                    book.put(_Outgoing(unsent), _NotSent(transport.broken))
                break
            book.poll()
            if index == half and halfway is not None:
                halfway()
            links = links_of(row.profile_id)
            try:
                rendered = _render(campaign, row, links)
            except Exception as exc:  # a template that cannot render this profile
                book.put(_Outgoing(row), _NotRendered(exc))
                continue
            message_id = message_id_make(send=row, from_email=from_email)
            headers = {"Message-ID": message_id}
            unsubscribe = _unsubscribe_header(links["unsubscribe_url"])
            if unsubscribe:
                headers["List-Unsubscribe"] = unsubscribe
                if links["unsubscribe_url"]:
                    headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            html = _tracked(rendered.html, row, links, tracker) if rendered.html else ""
            item = _Outgoing(row, message_id)
            data = None
            if builder is not None:
                data = builder.build(
                    to=row.address,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=html,
                    headers=headers,
                )
            if data is not None:
                item.envelope = (builder.envelope_from, builder.envelope_to(row.address), data)
            else:
                item.message = EmailMultiAlternatives(
                    subject=rendered.subject,
                    body=rendered.text,
                    from_email=from_email,
                    to=[row.address],
                    headers=headers,
                    connection=mail,
                )
                if html:
                    item.message.attach_alternative(html, "text/html")
            book.wait_room(submitted, window)  # the crash bound: wait until the oldest are recorded
            pacer.wait()
            item.submitted = True
            submitted += 1
            transport.submit(item)
            if transport.thread is not None:  # let the sender thread take the GIL now
                # (its server has answered by now)
                time.sleep(0)
        book.drain()
        finished = True
    finally:
        if own or not finished:  # leaving on an error: the rows stay claimed
            line.close(cancelled=not finished)


def _send_sms(campaign, rows, recorder: _Recorder, pacer: Pacer) -> None:
    from campaigns.sms import SmsMessage, get_sms_backend

    backend = get_sms_backend()
    links_of = _Links(campaign)
    try:
        backend.open()
    except Exception as exc:
        for row in rows:
            recorder.failed(row, ERROR_CONNECTION.format(error=exc), permanent=False)
        return
    try:
        step = settings.CAMPAIGN_MARK_EVERY
        for start in range(0, len(rows), step):
            if recorder.stopped:
                break
            group, messages = [], []
            for row in rows[start : start + step]:
                try:
                    rendered = _render(campaign, row, links_of(row.profile_id))
                except Exception as exc:
                    recorder.failed(row, ERROR_RENDER.format(error=exc), permanent=True)
                    continue
                pacer.wait()
                group.append(row)
                messages.append(
                    SmsMessage(to=row.address, text=rendered.text, reference=f"send-{row.pk}")
                )
            if not messages:
                continue
            try:
                results = backend.send_messages(messages)
            except Exception as exc:
                for row in group:
                    recorder.failed(row, f"{type(exc).__name__}: {exc}", permanent=False)
                continue
            for row, message, outcome in zip(group, messages, results, strict=False):
                if outcome.ok:
                    recorder.sent(row, outcome.provider_id or message.reference)
                else:
                    recorder.failed(
                        row, outcome.error or "SMS not sent", permanent=outcome.permanent
                    )
            recorder.flush()
    finally:
        recorder.flush()
        backend.close()


def _second_connection_usable() -> bool:
    """Return True when a second connection sees this one's data (PostgreSQL, autocommit).

    Prefetching the next batch and recording outcomes in their own threads (each with its own
    connection) needs it; on SQLite, or inside a transaction (tests), the worker does both.
    """
    return db_connection.vendor == "postgresql" and not db_connection.in_atomic_block


class _Prepared:
    """A claimed batch with its guards applied: the rows to send, and the counts so far."""

    def __init__(self, batch: uuid.UUID, rows: list[_Row], result: BatchResult):
        self.batch = batch
        self.rows = rows
        self.result = result

    def release(self) -> None:
        """Put the rows back in the queue as they were (a batch prepared but not sent)."""
        Send.objects.filter(batch=self.batch, status=Send.Status.SENDING).update(
            status=Send.Status.QUEUED, batch=None, claimed_at=None
        )


class _ClaimCursor:
    """Where a worker's last batch of a campaign ended: the id its next claim starts after.

    Due rows are claimed in id order, and the rows before the cursor are mostly sent or claimed
    by now. Without it each claim would walk past all of them again, in the index or the
    table, as the planner chooses (many thousands of rows late in a large campaign).
    """

    def __init__(self):
        self.after = 0


def _batch_prepare(
    *,
    campaign: Campaign,
    now: datetime.datetime,
    limit: int,
    cursor: _ClaimCursor | None = None,
) -> _Prepared | None:
    """Claim a batch (after ``cursor``, else from the start), load its rows and apply the
    guards; record the skipped rows.

    Return None when no row is due.
    """
    after = cursor.after if cursor is not None else 0
    batch = sends_claim(campaign_id=campaign.pk, now=now, limit=limit, after=after)
    if batch is None and after:  # rows re-queued behind the cursor (retries, released batches)
        batch = sends_claim(campaign_id=campaign.pk, now=now, limit=limit)
    if batch is None:
        return None
    rows = _rows_load(campaign, batch)
    if cursor is not None and rows:
        cursor.after = rows[-1].pk
    result = BatchResult(claimed=len(rows))
    reasons = _skip_reasons(campaign, rows, now)
    by_reason: dict[str, list[int]] = {}
    for pk, reason in reasons.items():
        by_reason.setdefault(reason, []).append(pk)
    for reason, ids in by_reason.items():
        result.skipped += Send.objects.filter(
            batch=batch, status=Send.Status.SENDING, pk__in=ids
        ).update(status=Send.Status.SKIPPED, skip_reason=reason)
    return _Prepared(batch, [row for row in rows if row.pk not in reasons], result)


class _Prefetcher:
    """Prepare the next batch (claim, load, guards) in a thread while this one is being sent.

    The thread has its own database connection (closed when it stops), so it is only used on
    PostgreSQL outside a transaction, where a second connection sees what the worker sees. A
    batch it prepared is released if the worker does not send it; if the worker dies, its rows
    are claimed like any other and the sweep re-queues them.
    """

    def __init__(self, *, limit: int, cursor: _ClaimCursor):
        self.limit = limit
        self.cursor = cursor
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = False
        self.thread = threading.Thread(target=self._run, name="campaign-prefetch", daemon=True)
        self.thread.start()

    def start(self, campaign: Campaign) -> None:
        """Begin preparing the next batch of ``campaign`` (at most one at a time)."""
        if not self.pending:
            self.pending = True
            self.jobs.put(campaign)

    def take(self) -> _Prepared | None:
        """Return the batch being prepared (waiting for it), or None if none was or is due."""
        if not self.pending:
            return None
        self.pending = False
        outcome = self.results.get()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> None:
        """Release a batch prepared and not taken; stop the thread."""
        try:
            prepared = self.take()
            if prepared is not None:
                prepared.release()
        finally:
            self.jobs.put(None)
            self.thread.join()

    def _run(self) -> None:
        try:
            while (campaign := self.jobs.get()) is not None:
                try:
                    now = timezone.now()
                    prepared = None
                    if quiet_hours_end(now=now) is None:  # in quiet hours the worker defers
                        prepared = _batch_prepare(
                            campaign=campaign, now=now, limit=self.limit, cursor=self.cursor
                        )
                    self.results.put(prepared)
                except BaseException as exc:  # the worker raises it when it takes the batch
                    self.results.put(exc)
        finally:
            db_connection.close()  # this thread's own connection


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
    return _batch_send(campaign_id=campaign_id, now=now, limit=limit, pacer=pacer)


def _batch_send(
    *,
    campaign_id: int,
    now: datetime.datetime | None = None,
    limit: int | None = None,
    pacer: Pacer | None = None,
    prepared: _Prepared | None = None,
    prefetch: Callable[[Campaign], None] | None = None,
    line: _EmailLine | None = None,
    cursor: _ClaimCursor | None = None,
) -> BatchResult | None:
    """Send one batch (``prepared`` ahead, or claimed now) as ``campaign_send_batch`` does.

    ``prefetch(campaign)`` is called once half of this batch is handed over (or when it is done,
    unless it stopped on a pause), to prepare the next one meanwhile: its guards then run about
    half a batch before its first message is sent. Emails go out on ``line``, and a batch is
    claimed after ``cursor``, if given.
    """
    now = now or timezone.now()
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None:
        if prepared is not None:
            prepared.release()
        return None
    resume_at = quiet_hours_end(now=now)
    if resume_at is not None:
        if prepared is not None:
            prepared.release()
        result = BatchResult()
        result.deferred = (
            Send.objects.filter(campaign_id=campaign_id, status=Send.Status.QUEUED)
            .filter(Q(not_before__isnull=True) | Q(not_before__lt=resume_at))
            .update(not_before=resume_at)
        )
        return result
    if prepared is None:
        prepared = _batch_prepare(
            campaign=campaign, now=now, limit=limit or settings.CAMPAIGN_BATCH_SIZE, cursor=cursor
        )
    if prepared is None:
        return BatchResult()
    result, rows = prepared.result, prepared.rows
    halfway = functools.partial(prefetch, campaign) if prefetch is not None else None
    stopped = False
    if rows:
        recorder = _Recorder(campaign, prepared.batch, result)
        pacer = pacer or channel_pacer(channel=campaign.channel)
        if campaign.channel == Channel.SMS:
            _send_sms(campaign, rows, recorder, pacer)
        else:
            _send_email(campaign, rows, recorder, pacer, halfway, line)
        recorder.release()  # anything left unsent (a pause) goes back to the queue
        stopped = recorder.stopped
    if halfway is not None and not stopped:
        halfway()  # does nothing when the next batch is already being prepared
    return result


def campaign_send(
    *, campaign_id: int, budget_seconds: float | None = None, limit: int | None = None
) -> BatchResult:
    """Send batches of a campaign until none is due or the time budget is spent.

    On PostgreSQL the next batch is claimed, loaded and guarded in a second thread while this
    one is sent (see ``_Prefetcher``). Emails of all the batches go out on one ``_EmailLine``.
    """
    budget = (
        settings.CAMPAIGN_SEND_TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    )
    deadline = time.monotonic() + budget
    total = BatchResult()
    campaign = Campaign.objects.filter(pk=campaign_id).only("channel").first()
    if campaign is None:
        return total
    pacer = channel_pacer(channel=campaign.channel)
    batch_size = limit or settings.CAMPAIGN_BATCH_SIZE
    cursor = _ClaimCursor()
    prefetcher = (
        _Prefetcher(limit=batch_size, cursor=cursor) if _second_connection_usable() else None
    )
    line = _EmailLine() if campaign.channel == Channel.EMAIL else None

    def prefetch(campaign: Campaign) -> None:
        if time.monotonic() < deadline:  # a batch prepared too late would only be released
            prefetcher.start(campaign)

    try:
        while time.monotonic() < deadline:
            # None when no batch was prepared, or none was due then: this one claims again.
            prepared = prefetcher.take() if prefetcher is not None else None
            result = _batch_send(
                campaign_id=campaign_id,
                limit=batch_size,
                pacer=pacer,
                prepared=prepared,
                prefetch=prefetch if prefetcher is not None else None,
                line=line,
                cursor=cursor,
            )
            if result is None:
                break
            total.add(result)
            if not result.claimed:
                break
    finally:
        try:
            if prefetcher is not None:
                prefetcher.close()
        finally:
            if line is not None:
                line.close()
    campaign_finish_if_done(campaign_id=campaign_id)
    return total


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
    return bool(finished)


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
        error=ERROR_WORKER_DIED.format(attempts=limit),
    )
    requeued = stale.update(
        status=Send.Status.QUEUED, attempts=F("attempts") + 1, batch=None, claimed_at=None
    )
    cancelled = Send.objects.filter(
        campaign__status=Campaign.Status.CANCELLED,
        status__in=(Send.Status.QUEUED, Send.Status.WAITING),
    ).update(status=Send.Status.SKIPPED, skip_reason=Send.SkipReason.CANCELLED)
    return {"requeued": requeued, "failed": failed, "cancelled": cancelled}


def campaigns_tick(*, now: datetime.datetime | None = None) -> dict[str, list[int]]:
    """Start due campaigns, turn triggers into ledger rows, queue send tasks, finish the done.

    Run by beat every few seconds; scheduled campaigns are started here by compare-and-set,
    never by long Celery ETAs. Each sending campaign with due rows gets CAMPAIGN_WORKERS
    ``campaign_send_batch_task`` messages, queued once this transaction commits.
    """
    from campaigns.tasks import campaign_send_batch_task  # tasks import this module

    now = now or timezone.now()
    started, queued, finished = [], [], []
    for campaign_id in campaigns_due(now=now):
        try:
            if campaign_start(campaign_id=campaign_id, now=now):
                started.append(campaign_id)
        except Exception:  # one broken campaign must not stop the others
            logger.exception("Campaign %s could not start", campaign_id)
    sending = Campaign.objects.filter(status=Campaign.Status.SENDING)
    triggered = sending.filter(kind=Campaign.Kind.TRIGGERED, trigger_segment__isnull=False)
    for campaign_id in triggered.values_list("pk", flat=True):  # stage triggers: journeys
        try:
            campaign_triggers_process(campaign_id=campaign_id)
        except Exception:
            logger.exception("Campaign %s could not process its triggers", campaign_id)
    for campaign_id in sending.values_list("pk", flat=True):
        if _claimable(campaign_id, now).exists():
            for _worker in range(settings.CAMPAIGN_WORKERS):
                transaction.on_commit(lambda pk=campaign_id: campaign_send_batch_task.delay(pk))
            queued.append(campaign_id)
        elif campaign_finish_if_done(campaign_id=campaign_id, now=now):
            finished.append(campaign_id)
    return {"started": started, "queued": queued, "finished": finished}
