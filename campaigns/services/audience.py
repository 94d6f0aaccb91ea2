"""Start campaigns and freeze their audience into the send ledger, set-based and idempotent.

Every recipient is one ``Send`` row, unique per (campaign, profile, entry), and every
campaign started here uses entry 0 (only a flow's campaigns number entries): rows are inserted with
ON CONFLICT DO NOTHING, so starting twice, a rerun or a trigger firing twice adds nobody twice
and never changes a row that exists. Which group a profile falls in is decided by a stable hash
of ``"{campaign id}:{profile id}"`` into 0..9999 (``assignment_bucket``), the same on every
database and in every run: the lowest ``holdout_percent`` hundredths are the holdout (they get
nothing), the rest is split between the variants by weight. With "test then winner" the test
share gets variants now (``in_test``) and the rest waits without a variant until
``campaign_winner_set``.
"""

import datetime
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, CampaignChange, Send, Variant
from campaigns.sql import ledger_analyze
from profiles.models import Profile
from segments.models import SegmentMembership, SegmentTransition

BUCKETS = 10_000
CHUNK_SIZE = 5_000
# From how many ledger rows queued at once the ledger's planner statistics are refreshed.
ANALYZE_FROM = 10_000

ERROR_NO_VARIANTS = _("Campaign “%(name)s” has no variant to send; add one before it starts.")
ERROR_WINNER_NOT_OURS = _("The winner must be one of this campaign's variants.")
ERROR_NOT_TRIGGERED = _("Campaign “%(name)s” is not a triggered campaign with a trigger segment.")


def assignment_bucket(*, campaign_id: int, profile_id: int) -> int:
    """Return the profile's stable position 0..9999 in this campaign's split."""
    digest = hashlib.sha256(f"{campaign_id}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Split:
    """How positions 0..9999 map to holdout, test share, waiting and variants."""

    holdout_end: int
    split_end: int  # positions in [holdout_end, split_end) get a variant by weight
    waiting: bool  # positions from split_end on wait for the winner (else they are all split)
    variants: tuple[tuple[int, int], ...]  # (cumulative weight, variant id), by key
    winner_id: int | None

    def assign(self, bucket: int) -> tuple[str, int | None, bool]:
        """Return (status, variant id, in test share) for a position."""
        if bucket < self.holdout_end:
            return Send.Status.HOLDOUT, None, False
        if self.winner_id is not None:
            return Send.Status.QUEUED, self.winner_id, False
        if bucket >= self.split_end:
            return Send.Status.WAITING, None, False
        total = self.variants[-1][0]
        position = (bucket - self.holdout_end) * total // (self.split_end - self.holdout_end)
        variant_id = next(pk for bound, pk in self.variants if position < bound)
        return Send.Status.QUEUED, variant_id, self.waiting


def campaign_split(*, campaign: Campaign) -> Split:
    """Return the campaign's split; raise ValueError when it has no variant."""
    variants, bound = [], 0
    for pk, weight in campaign.variants.order_by("key").values_list("pk", "weight"):
        bound += max(weight, 1)
        variants.append((bound, pk))
    if not variants:
        raise ValueError(ERROR_NO_VARIANTS % {"name": campaign.name})
    holdout_end = campaign.holdout_percent * BUCKETS // 100
    waiting = campaign.winner_mode == Campaign.WinnerMode.TEST_THEN_WINNER
    split_end = BUCKETS
    if waiting:
        split_end = holdout_end + (BUCKETS - holdout_end) * campaign.test_percent // 100
        waiting = split_end < BUCKETS
    return Split(
        holdout_end=holdout_end,
        split_end=max(split_end, holdout_end + 1),
        waiting=waiting,
        variants=tuple(variants),
        winner_id=campaign.winner_id,
    )


def audience_of(*, include: Sequence[int], exclude: Sequence[int]) -> QuerySet[Profile]:
    """Return the profiles in any ``include`` segment and in no ``exclude`` segment."""
    members = SegmentMembership.objects.filter(profile=OuterRef("pk"), segment_id__in=include)
    left_out = SegmentMembership.objects.filter(profile=OuterRef("pk"), segment_id__in=exclude)
    profiles = Profile.objects.filter(Exists(members))
    if exclude:
        profiles = profiles.filter(~Exists(left_out))
    return profiles


def campaign_audience(*, campaign: Campaign) -> QuerySet[Profile]:
    """Return the campaign's audience as its start freezes it: include minus exclude segments."""
    return audience_of(
        include=list(campaign.include_segments.values_list("pk", flat=True)),
        exclude=list(campaign.exclude_segments.values_list("pk", flat=True)),
    )


def campaign_sends_add(
    *, campaign: Campaign, profile_ids: Sequence[int], split: Split, entry: int = 0
) -> None:
    """Insert one ledger row per profile, one statement per chunk; existing rows stay.

    ``entry``: which time the profiles entered the flow whose step this campaign is (0 for
    every other campaign)."""
    for start in range(0, len(profile_ids), CHUNK_SIZE):
        rows = []
        for profile_id in profile_ids[start : start + CHUNK_SIZE]:
            status, variant_id, in_test = split.assign(
                assignment_bucket(campaign_id=campaign.pk, profile_id=profile_id)
            )
            rows.append(
                Send(
                    campaign_id=campaign.pk,
                    profile_id=profile_id,
                    entry=entry,
                    variant_id=variant_id,
                    in_test=in_test,
                    status=status,
                )
            )
        Send.objects.bulk_create(rows, ignore_conflicts=True)


def campaign_audience_freeze(*, campaign: Campaign) -> int:
    """Write the audience (include minus exclude segments) into the ledger; return its size."""
    split = campaign_split(campaign=campaign)
    audience = campaign_audience(campaign=campaign).order_by("pk").values_list("pk", flat=True)
    after = 0
    while True:
        ids = list(audience.filter(pk__gt=after)[:CHUNK_SIZE])
        if not ids:
            break
        campaign_sends_add(campaign=campaign, profile_ids=ids, split=split)
        after = ids[-1]
    return Send.objects.filter(campaign=campaign).count()


def campaign_start(*, campaign_id: int, now: datetime.datetime | None = None) -> Campaign | None:
    """Start a due scheduled campaign and freeze its audience; None if it is not ours to start.

    The compare-and-set (scheduled → sending) and the ledger rows are one transaction: two
    schedulers racing for a campaign start it once, and a failure leaves it scheduled.
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            Campaign.objects.filter(
                pk=campaign_id, status=Campaign.Status.SCHEDULED, send_at__lte=now
            )
            .exclude(kind=Campaign.Kind.FLOW)
            .update(status=Campaign.Status.SENDING, started_at=now)
        )
        if not claimed:
            return None
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.kind == Campaign.Kind.TRIGGERED:
            size = 0
            if campaign.trigger_cursor == 0:  # only profiles entering from now on trigger it
                campaign.trigger_cursor = _transitions_max(campaign)
                Campaign.objects.filter(pk=campaign.pk).update(
                    trigger_cursor=campaign.trigger_cursor
                )
        else:
            size = campaign_audience_freeze(campaign=campaign)
        CampaignChange.objects.create(
            campaign=campaign, action="started", detail={"at": now.isoformat(), "ledger": size}
        )
    ledger_statistics_refresh(added=size)
    return campaign


def ledger_statistics_refresh(*, added: int) -> bool:
    """Refresh the send ledger's planner statistics after ``added`` rows were queued at once
    (a frozen audience, a flow's send step for many enrollments); return whether it did.

    On PostgreSQL, from ANALYZE_FROM rows: rows just added are unknown to its statistics until
    autovacuum comes by, and without them the first batches' claims of those rows plan as if
    there were none (tens of milliseconds a batch instead of one or two at 30,000 rows).
    """
    if added < ANALYZE_FROM or connection.vendor != "postgresql":
        return False
    ledger_analyze()
    return True


def _transitions_max(campaign: Campaign) -> int:
    found = SegmentTransition.objects.filter(segment_id=campaign.trigger_segment_id).aggregate(
        last=Max("pk")
    )["last"]
    return found or 0


def campaigns_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Return the ids of scheduled campaigns whose time has come (a flow starts its own)."""
    now = now or timezone.now()
    return list(
        Campaign.objects.filter(status=Campaign.Status.SCHEDULED, send_at__lte=now)
        .exclude(kind=Campaign.Kind.FLOW)
        .order_by("send_at", "pk")
        .values_list("pk", flat=True)
    )


def campaign_triggers_process(*, campaign_id: int, limit: int = CHUNK_SIZE) -> int:
    """Add ledger rows for profiles that entered the trigger segment since the cursor.

    The cursor moves in the same transaction as the inserts, with the campaign row locked, so
    each transition is handled once; a profile entering again gets no second message (the
    ledger is unique). Members of an exclude segment are left out. Return the rows added.
    """
    added = 0
    while True:
        with transaction.atomic():
            campaign = (
                Campaign.objects.select_for_update()
                .filter(
                    pk=campaign_id, status=Campaign.Status.SENDING, kind=Campaign.Kind.TRIGGERED
                )
                .first()
            )
            if campaign is None:
                return added
            if campaign.trigger_segment_id is None:
                raise ValueError(ERROR_NOT_TRIGGERED % {"name": campaign.name})
            rows = list(
                SegmentTransition.objects.filter(
                    segment_id=campaign.trigger_segment_id,
                    entered=True,
                    pk__gt=campaign.trigger_cursor,
                )
                .order_by("pk")
                .values_list("pk", "profile_id")[:limit]
            )
            if not rows:
                return added
            added += campaign_profiles_add(
                campaign=campaign, profile_ids=[profile_id for _pk, profile_id in rows]
            )
            Campaign.objects.filter(pk=campaign.pk).update(trigger_cursor=rows[-1][0])
        if len(rows) < limit:
            return added


def campaign_profiles_add(*, campaign: Campaign, profile_ids: Iterable[int]) -> int:
    """Add ledger rows for profiles a trigger fired for (minus the excluded); return rows added.

    For callers outside this module, e.g. journey stages: a profile that already has a row for
    the campaign keeps it and gets no second message.
    """
    profile_ids = sorted(set(profile_ids))
    added = 0
    for start in range(0, len(profile_ids), CHUNK_SIZE):
        chunk = sorted(_not_excluded(campaign, profile_ids[start : start + CHUNK_SIZE]))
        ledger = Send.objects.filter(campaign=campaign, profile_id__in=chunk)
        before = ledger.count()
        campaign_sends_add(
            campaign=campaign, profile_ids=chunk, split=campaign_split(campaign=campaign)
        )
        added += ledger.count() - before
    return added


def _not_excluded(campaign: Campaign, profile_ids: Iterable[int]) -> set[int]:
    profile_ids = set(profile_ids)
    exclude = list(campaign.exclude_segments.values_list("pk", flat=True))
    if not exclude or not profile_ids:
        return profile_ids
    left_out = SegmentMembership.objects.filter(
        segment_id__in=exclude, profile_id__in=profile_ids
    ).values_list("profile_id", flat=True)
    return profile_ids - set(left_out)


def campaign_winner_set(
    *, campaign: Campaign, variant: Variant, user=None, decision: dict | None = None
) -> int:
    """Make ``variant`` the winner: waiting rows get it and are queued; return how many."""
    if variant.campaign_id != campaign.pk:
        raise ValueError(ERROR_WINNER_NOT_OURS)
    now = timezone.now()
    decision = decision or {"by": "manager"}
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(
            winner=variant, winner_decided_at=now, winner_decision=decision
        )
        queued = Send.objects.filter(campaign=campaign, status=Send.Status.WAITING).update(
            status=Send.Status.QUEUED, variant=variant, not_before=None
        )
        CampaignChange.objects.create(
            campaign=campaign,
            user=user if user is not None and user.is_authenticated else None,
            action="winner_set",
            detail={"variant": variant.key, "queued": queued, "decision": decision},
        )
    campaign.winner, campaign.winner_decided_at, campaign.winner_decision = variant, now, decision
    return queued


def campaign_waiting_split(*, campaign: Campaign, decision: dict, user=None) -> int:
    """Give the waiting rows the variants by weight (no single winner); return how many.

    Set-based: one UPDATE per variant over the rows whose slot falls in its share of the weights
    (slot: ``id * 7919 mod total weight``, which scatters consecutive ids over the slots). The
    decision is recorded like a winner's, without a winner.
    """
    from django.db.models import F, Value
    from django.db.models.functions import Mod

    split = campaign_split(campaign=campaign)
    total = split.variants[-1][0]
    now = timezone.now()
    queued, low = 0, 0
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(
            winner=None, winner_decided_at=now, winner_decision=decision
        )
        waiting = Send.objects.filter(campaign=campaign, status=Send.Status.WAITING).annotate(
            slot=Mod(F("pk") * Value(7919), Value(total))
        )
        for bound, variant_id in split.variants:
            queued += waiting.filter(slot__gte=low, slot__lt=bound).update(
                status=Send.Status.QUEUED, variant_id=variant_id, not_before=None
            )
            low = bound
        CampaignChange.objects.create(
            campaign=campaign,
            user=user if user is not None and user.is_authenticated else None,
            action="winner_split",
            detail={"queued": queued, "decision": decision},
        )
    campaign.winner, campaign.winner_decided_at, campaign.winner_decision = None, now, decision
    return queued


def campaign_sends_move(*, source: Profile, target: Profile) -> int:
    """Move a merged profile's ledger rows to the kept one; a shared campaign keeps the target's.

    Rows are shared when they have the same campaign and entry (a flow's campaign may hold one
    row per entry of a profile; every other campaign one, entry 0).
    """
    targets = Send.objects.filter(
        profile=target, campaign_id=OuterRef("campaign_id"), entry=OuterRef("entry")
    )
    both = Send.objects.filter(profile=source).filter(Exists(targets))
    both.delete()
    return Send.objects.filter(profile=source).update(profile=target)
