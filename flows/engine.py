"""The flow engine: claim due enrollments in a batch and move each as far as it can go now.

    enrollments_advance(limit)            # one batch, one transaction
      ├ sql.enrollments_claim              (FOR UPDATE SKIP LOCKED / compare-and-set)
      ├ exits.exits_apply                  (goal event, segment left, consent withdrawn)
      └ rounds: group the batch by (version, step), run each group's step set-based
          (steps.HANDLERS), record one StepRun per (enrollment, step), move on
      └ write each enrollment's new place, grouped by equal values

A step's side effects (a ledger row to send, a tag, a trait) and its StepRun are written in the
batch's transaction, and StepRun is unique per (enrollment, step): a crash loses the whole
batch and gives its rows back, and a step never runs twice. Sending happens after commit, in
the campaigns' delivery (``campaign_send_task``), which has its own exactly-once ledger.
"""

import datetime
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flows import sql
from flows.definition import Definition, Step, definition_parse
from flows.models import Enrollment, Flow, FlowMessage, FlowVersion, StepRun

# A batch stops moving an enrollment after this many steps in one go (a safety net: a tree
# has no loop, but a very long chain waits for the next batch).
MAX_ROUNDS = 60


@dataclass
class Item:
    """One claimed enrollment, as the batch moves it."""

    pk: int
    profile_id: int
    flow_id: int
    version_id: int
    entry: int
    step_key: str
    step_since: datetime.datetime
    entered_at: datetime.datetime
    status: str = Enrollment.Status.ACTIVE
    wake_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    exit_reason: str = ""
    moved: bool = False  # came onto its step in this batch (so it has no run of it yet)


@dataclass(frozen=True)
class Move:
    """What a step decided for one enrollment."""

    kind: str  # "next", "wait", "park", "finish"
    outcome: str | None = None
    wake_at: datetime.datetime | None = None
    reason: str = ""


NEXT = Move("next")
PARK = Move("park")


def wait_until(when: datetime.datetime) -> Move:
    return Move("wait", wake_at=when)


def go(outcome: str | None) -> Move:
    return Move("next", outcome=outcome)


@dataclass
class Version:
    """A version as the engine runs it: its parsed definition and its steps' campaigns."""

    pk: int
    flow: Flow
    definition: Definition
    campaigns: dict[str, int] = field(default_factory=dict)  # step key → campaign id
    campaign_slugs: dict[str, str] = field(default_factory=dict)


@dataclass
class Batch:
    """What one batch collects: its clock, the versions it read, rows to write, work for after.

    Step runs are kept as enrollment ids grouped by their equal values, and written by one
    statement per group (``sql.step_runs_insert``): a step's runs in a batch share all but the
    enrollment.
    """

    now: datetime.datetime
    versions: dict[int, Version] = field(default_factory=dict)
    runs: dict[sql.RunValues, list[int]] = field(default_factory=lambda: defaultdict(list))
    runs_count: int = 0
    queued: int = 0  # messages added to send ledgers
    after_commit: dict[str, object] = field(default_factory=dict)  # deduplicated by key
    paused: dict[int, str] = field(default_factory=dict)  # flow id → why

    def version(self, version_id: int) -> Version:
        if version_id not in self.versions:
            self.versions[version_id] = version_load(version_id)
        return self.versions[version_id]

    def run(
        self, item: Item, step: Step, *, outcome: str = "", status=StepRun.Status.DONE, detail=None
    ):
        values = sql.RunValues(
            flow_id=item.flow_id,
            step_key=step.key,
            status=status,
            outcome=outcome or "",
            detail=json.dumps(detail or {}, sort_keys=True),
        )
        self.runs[values].append(item.pk)
        self.runs_count += 1

    def later(self, key: str, function) -> None:
        self.after_commit.setdefault(key, function)


def version_load(version_id: int) -> Version:
    """Return a version ready to run (its definition parsed as it was saved, its campaigns)."""
    version = FlowVersion.objects.select_related("flow").get(pk=version_id)
    messages = FlowMessage.objects.filter(version_id=version_id).values_list(
        "step_key", "campaign_id", "campaign__slug"
    )
    return Version(
        pk=version.pk,
        flow=version.flow,
        definition=definition_parse(version.definition, check=False),
        campaigns={key: pk for key, pk, _slug in messages},
        campaign_slugs={key: slug for key, _pk, slug in messages},
    )


def _apply(batch: Batch, item: Item, version: Version, step: Step, move: Move) -> bool:
    """Apply ``move`` to ``item``; return True when the item goes on to another step now."""
    if move.kind == "wait":
        item.wake_at = move.wake_at
        return False
    if move.kind == "park":
        item.wake_at = None
        return False
    if move.kind == "finish":
        _finish(item, batch.now, Enrollment.Status.COMPLETED, move.reason)
        return False
    following = version.definition.after(step, move.outcome)
    if following is None:
        _finish(item, batch.now, Enrollment.Status.COMPLETED, "")
        return False
    item.step_key, item.step_since, item.moved = following, batch.now, True
    return True


def _finish(item: Item, now: datetime.datetime, status: str, reason: str) -> None:
    item.status, item.finished_at, item.exit_reason, item.wake_at = status, now, reason, None


def _replayed(runs: dict[int, StepRun], items: list[Item]) -> tuple[list[Item], dict[int, Move]]:
    """Split off items whose step already has a final StepRun: they only move on."""
    fresh, moves = [], {}
    for item in items:
        run = runs.get(item.pk)
        if run is not None and run.status in (StepRun.Status.DONE, StepRun.Status.FAILED):
            moves[item.pk] = go(run.outcome or None)
        else:
            fresh.append(item)
    return fresh, moves


def _runs_existing(step_key: str, enrollment_ids: list[int]) -> dict[int, StepRun]:
    """Return the runs of this step these enrollments already have, by enrollment.

    Only enrollments that stood on the step when claimed can have one (a webhook's pending
    call, a step recorded but not moved past): one that came onto it in this batch cannot, as
    a flow is a tree and never leads back to a step.
    """
    if not enrollment_ids:
        return {}
    runs = sql.step_runs_of(step_key=step_key, enrollment_ids=enrollment_ids)
    return {run.enrollment_id: run for run in runs}


def _round(batch: Batch, items: list[Item]) -> list[Item]:
    """Run every item's current step once; return the items that moved on to another step."""
    from flows.steps import HANDLERS

    groups: dict[tuple[int, str], list[Item]] = defaultdict(list)
    for item in items:
        groups[(item.version_id, item.step_key)].append(item)
    moving = []
    for (version_id, key), group in groups.items():
        version = batch.version(version_id)
        step = version.definition.steps.get(key)
        if step is None:  # cannot happen for a saved version; end rather than loop
            for item in group:
                _finish(item, batch.now, Enrollment.Status.COMPLETED, "unknown_step")
            continue
        existing = _runs_existing(key, [item.pk for item in group if not item.moved])
        fresh, moves = _replayed(existing, group)
        if fresh:
            moves.update(HANDLERS[step.kind](batch, version, step, fresh, existing))
        for item in group:
            move = moves.get(item.pk)
            if move is None:  # the step holds it (a flow paused itself): look again later
                item.wake_at = batch.now
                continue
            if _apply(batch, item, version, step, move):
                moving.append(item)
    return moving


def _write(items: list[Item]) -> None:
    """Write each enrollment's new place: one UPDATE per set of equal values."""
    groups: dict[sql.Place, list[int]] = defaultdict(list)
    for item in items:
        place = sql.Place(
            status=item.status,
            step_key=item.step_key,
            step_since=item.step_since,
            wake_at=item.wake_at,
            finished_at=item.finished_at,
            exit_reason=item.exit_reason,
        )
        groups[place].append(item.pk)
    sql.enrollments_place(groups=groups)


@dataclass
class AdvanceResult:
    claimed: int = 0
    moved: int = 0
    runs: int = 0
    exited: int = 0
    queued: int = 0

    def add(self, other: "AdvanceResult") -> None:
        self.claimed += other.claimed
        self.moved += other.moved
        self.runs += other.runs
        self.exited += other.exited
        self.queued += other.queued


def enrollments_advance(
    *, limit: int | None = None, now: datetime.datetime | None = None
) -> AdvanceResult:
    """Claim one batch of due enrollments and move each as far as it can go now."""
    from flows.exits import exits_apply
    from flows.services import flow_pause_in_batch

    batch = Batch(now=now or timezone.now())
    result = AdvanceResult()
    with transaction.atomic():
        rows = sql.enrollments_claim(now=batch.now, limit=limit or settings.FLOW_BATCH_SIZE)
        if not rows:
            return result
        items = [Item(*row) for row in rows]
        result.claimed = len(items)
        exited = exits_apply(batch, items)
        result.exited = len(exited)
        moving = [item for item in items if item.pk not in exited]
        for _round_number in range(MAX_ROUNDS):
            if not moving:
                break
            moving = _round(batch, moving)
        for item in moving:  # a chain longer than a batch goes on in the next one
            item.wake_at = batch.now
        sql.step_runs_insert(runs=batch.runs, at=batch.now)
        _write([item for item in items if item.pk not in exited])
        for flow_id, reason in batch.paused.items():
            flow_pause_in_batch(flow_id=flow_id, reason=reason)
        for function in batch.after_commit.values():
            transaction.on_commit(function)
    result.runs, result.queued = batch.runs_count, batch.queued
    result.moved = result.claimed - result.exited
    return result
