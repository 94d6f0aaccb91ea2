"""Segment operations: preview a rule, evaluate a segment into its versioned membership."""

import datetime
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.errors import coded
from core.models import Notification
from core.notifications import notification_send
from core.sql import select_sql
from profiles.models import Profile
from profiles.services.consent import profiling_refused_ids
from segments import sql as segment_sql
from segments.compiler import (
    CORRELATED,
    SharedMeasures,
    common_conditions,
    compile_rule,
    measure_keys,
    profile_columns,
    rule_candidates,
    rule_matching,
    shared_candidates,
    shared_candidates_query,
    shared_matching,
    shared_measure_columns,
    shared_measures,
    shared_measures_query,
    shared_profiles_query,
    shared_tag_query,
    tag_slugs,
    uses_behaviour,
)
from segments.membership import membership_version_write
from segments.models import Segment, SegmentMembership, SegmentRun, SegmentTransition
from segments.rules import Node, RuleError, parse_rule, referenced_segments, rule_to_json
from segments.selectors import segment_rule

PREVIEW_SAMPLE_SIZE = 10
# From how many segments refreshed together their rules scan a narrow copy of the profiles.
SHARED_PROFILES_FROM = 2


def segment_preview(*, rule, slug: str | None = None, now: datetime.datetime | None = None) -> dict:
    """Return how many profiles satisfy ``rule`` now, the external IDs of a few of them, and how
    many more it would select but for their withdrawal of personalised profiling (``opted_out``).

    ``slug`` is the segment being edited, if any, so that a rule referring back to it is refused.
    Raise ``segments.rules.RuleError`` for an invalid rule; nothing is saved.
    """
    tree = parse_rule(rule, resolve=segment_rule, slug=slug)
    now = now or timezone.now()
    matching, _choice = rule_matching(tree, now=now)
    members = Profile.objects.filter(pk__in=matching)
    sample = members.order_by("pk").values_list("external_id", flat=True)[:PREVIEW_SAMPLE_SIZE]
    with transaction.atomic(), connection.cursor() as cursor:  # the memory its plan counts on
        for statement in segment_sql.query_memory_statements():
            cursor.execute(statement)
        return {
            "size": members.count(),
            "sample": list(sample),
            "as_of": now.isoformat(),
            "opted_out": _opted_out_count(tree, now=now),
        }


def _opted_out_count(tree: Node, *, now: datetime.datetime) -> int:
    """Return how many profiles that refused personalised profiling the rule would select if
    behaviour were read for them (0 for a rule that reads no behaviour: nobody is left out).

    Probed for those profiles only (the correlated plan): they are usually few.
    """
    if not uses_behaviour(tree):
        return 0
    condition = compile_rule(tree, now=now, respect_profiling=False, plan=CORRELATED)
    return Profile.objects.filter(pk__in=profiling_refused_ids()).filter(condition).count()


@dataclass(frozen=True)
class ParsedRule:
    """A segment's rule as one run read it, with its tree or the error that refused it."""

    rule: Any
    tree: Node | None = None
    error: RuleError | None = None


def rule_parse(*, rule: Any, slug: str) -> ParsedRule:
    """Parse the rule of segment ``slug`` against the stored segments, keeping any error."""
    try:
        return ParsedRule(rule=rule, tree=parse_rule(rule, resolve=segment_rule, slug=slug))
    except RuleError as error:
        return ParsedRule(rule=rule, error=error)


def _tree(segment: Segment, parsed: ParsedRule | None) -> Node:
    """Return the segment's tree: the one parsed for this run if its rule is still the same."""
    if parsed is None or parsed.rule != segment.rule:
        parsed = rule_parse(rule=segment.rule, slug=segment.slug)
    if parsed.error is not None:
        raise parsed.error
    return parsed.tree


def segment_evaluate(
    *,
    segment_id: int,
    now: datetime.datetime | None = None,
    shared: SharedMeasures | None = None,
    parsed: ParsedRule | None = None,
) -> SegmentRun | None:
    """Evaluate a dynamic segment into its membership, writing only the difference.

    The segment is claimed with a compare-and-set, so two workers never evaluate it at once
    (None is returned to the one that lost). The new membership is computed in the database,
    in the plan ``segments.compiler.plan_choose`` picks for the rule (or SEGMENT_PLAN forces);
    rows that left are deleted, rows that entered are inserted with INSERT … SELECT, each change
    is logged as a SegmentTransition, and the version goes up by one. A failed run keeps the
    last good membership, records the error and marks the segment failed. ``shared`` names the
    tables of event measures ``segments_evaluate_many`` computed once for several segments;
    ``parsed`` the rule it already parsed (used if the stored rule is still the same).
    """
    now = now or timezone.now()
    claim = _segment_claim(segment_id, now)
    if claim is None:
        return None
    segment, run = claim
    version = run.version
    started = time.perf_counter()
    try:
        tree = _tree(segment, parsed)
        with transaction.atomic():  # the membership, the run's figures and the new version
            entered, exited, size = _membership_replace(segment, tree, version, now, shared)
            duration = int((time.perf_counter() - started) * 1000)
            finished = timezone.now()
            SegmentRun.objects.filter(pk=run.pk).update(
                finished_at=finished, size=size, entered=entered, exited=exited
            )
            Segment.objects.filter(pk=segment_id).update(
                status=Segment.Status.READY, version=version, size=size, error="",
                last_run_at=now, last_duration_ms=duration,
            )  # fmt: skip
    except Exception as exc:  # any failure keeps the last good membership; record why
        duration = int((time.perf_counter() - started) * 1000)
        message = str(exc) if isinstance(exc, RuleError) else f"{type(exc).__name__}: {exc}"
        SegmentRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), error=message)
        Segment.objects.filter(pk=segment_id).update(
            status=Segment.Status.FAILED, error=message, last_run_at=now,
            last_duration_ms=duration,
        )  # fmt: skip
        run.refresh_from_db()
        return run
    run.finished_at, run.size, run.entered, run.exited = finished, size, entered, exited
    return run


def _segment_claim(segment_id: int, now: datetime.datetime) -> tuple[Segment, SegmentRun] | None:
    """Mark the segment evaluating and record its run, in one transaction; return both, or
    None if the segment is not dynamic or another worker is evaluating it.

    On PostgreSQL, when not inside a caller's transaction, it commits without waiting for the
    disk (``synchronous_commit`` off, for this transaction only): a crash of the database server
    can lose only this claim, as if the evaluation had not started. The membership and the new
    version are committed together, durably, in ``segment_evaluate``.
    """
    asynchronous = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if asynchronous:
            with connection.cursor() as cursor:
                cursor.execute(segment_sql.commit_asynchronously())
        claimed = (
            Segment.objects.filter(pk=segment_id, kind=Segment.Kind.DYNAMIC)
            .exclude(status=Segment.Status.EVALUATING)
            .update(status=Segment.Status.EVALUATING)
        )
        if not claimed:
            return None
        segment = Segment.objects.get(pk=segment_id)
        run = SegmentRun.objects.create(
            segment=segment, version=segment.version + 1, started_at=now
        )
        return segment, run


def _membership_replace(
    segment: Segment, tree, version: int, now, shared: SharedMeasures | None = None
) -> tuple[int, int, int]:
    """Make the membership equal the rule's result; return (entered, exited, size).

    The rule's query runs once, into a temporary table of profile ids; who left and who
    entered are then two anti-joins against the stored membership
    (``segments.membership.membership_version_write``), so an unchanged result writes no
    membership row at all.
    """
    own = None
    if shared is None:
        matching, own = _rule_plan(tree, now)
    else:
        matching = shared_matching(tree, now=now, shared=shared)
    try:
        if own is not None:
            shared_measures_fill(plan=own, now=now)
        size = _result_fill(matching)
    finally:
        if own is not None:
            shared_measures_drop(plan=own)
    entered, exited = membership_version_write(
        segment_id=segment.pk,
        version=version,
        now=now,
        leaving=(segment_sql.NOT_IN_RESULT, ()),
        entering=[(segment_sql.IN_RESULT, ())],
    )
    with connection.cursor() as cursor:
        cursor.execute(segment_sql.result_table_drop())
    if segment.tag_id:
        from segments.tags import segment_tag_sync  # segments.tags imports profiles services

        segment_tag_sync(segment=segment, version=version)
    return entered, exited, size


def _result_fill(matching) -> int:
    """Run the rule's query into the result table; return how many profiles it holds."""
    matching_sql, matching_params = select_sql(matching)
    with connection.cursor() as cursor:
        for statement in segment_sql.result_table_create():
            cursor.execute(statement)
        cursor.execute(segment_sql.result_table_fill(matching_sql), matching_params)
        size = cursor.rowcount
        for statement in segment_sql.result_table_index():
            cursor.execute(statement)
    return size


def _rule_plan(tree: Node, now: datetime.datetime) -> tuple[Any, SharedMeasures | None]:
    """Return the ids of the profiles satisfying the rule in its chosen plan, and the tables to
    fill first (and drop after), if any.

    A correlated plan on PostgreSQL goes through the tables of a refresh of one rule: its
    candidates once (a query that may run in parallel), their counts and sums of each event by
    one LATERAL probe of the events index per candidate, then the rule over those few rows; a
    correlated subquery in the rule's own WHERE would keep the whole query in one process.
    """
    matching, choice = rule_matching(tree, now=now)
    keys, columns = measure_keys(tree), profile_columns([tree])
    if choice.plan != CORRELATED or not segment_sql.lateral_supported() or not keys:
        return matching, None
    candidates = rule_candidates(tree, now=now, plan=CORRELATED)
    if candidates is None or columns is None:
        return matching, None
    own = shared_measures(
        keys, profile_columns=columns, candidates=candidates, prefix="segment_own",
        profiling_checked=uses_behaviour(tree),
    )  # fmt: skip
    return shared_matching(tree, now=now, shared=own), own


ERROR_WORKER_DIED = coded(
    "segment.worker_died",
    gettext_noop("the worker evaluating this segment stopped before finishing; it will be retried"),
)


def segments_refresh_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Queue the dynamic segments whose refresh interval has passed; return their ids.

    Segments stuck in "evaluating" longer than JOB_STALE_SECONDS (their worker died) are
    released first, so the next tick evaluates them again.
    """
    from segments.tasks import segments_evaluate_many_task  # tasks import this module

    now = now or timezone.now()
    stale = now - datetime.timedelta(seconds=settings.JOB_STALE_SECONDS)
    stuck = Segment.objects.filter(status=Segment.Status.EVALUATING).exclude(
        runs__finished_at__isnull=True, runs__started_at__gte=stale
    )
    for segment_id in stuck.values_list("pk", flat=True):
        SegmentRun.objects.filter(segment_id=segment_id, finished_at__isnull=True).update(
            finished_at=now, error=ERROR_WORKER_DIED.dumps()
        )
        Segment.objects.filter(pk=segment_id, status=Segment.Status.EVALUATING).update(
            status=Segment.Status.FAILED, error=ERROR_WORKER_DIED.dumps()
        )
    due = []
    candidates = Segment.objects.filter(
        kind=Segment.Kind.DYNAMIC, refresh_minutes__isnull=False
    ).exclude(status=Segment.Status.EVALUATING)
    for segment_id, minutes, last_run in candidates.values_list(
        "pk", "refresh_minutes", "last_run_at"
    ):
        if last_run is None or last_run + datetime.timedelta(minutes=minutes) <= now:
            due.append(segment_id)
    # One task evaluates them all, in dependency order, sharing their event scans.
    if due:
        Segment.objects.filter(pk__in=due).exclude(status=Segment.Status.EVALUATING).update(
            status=Segment.Status.QUEUED
        )
        transaction.on_commit(lambda: segments_evaluate_many_task.delay(due))
    return due


def _dependency_order(
    segment_ids: list[int], slugs: dict[int, str], parsed: dict[int, ParsedRule]
) -> list[int]:
    """Return ``segment_ids`` with every segment after the segments its rule refers to."""
    by_slug = {slug: pk for pk, slug in slugs.items()}
    ordered, seen = [], set()

    def visit(pk: int, depth: int = 0) -> None:
        if pk in seen or depth > 20:
            return
        seen.add(pk)
        tree = parsed[pk].tree if pk in parsed else None  # an error: its evaluation records it
        for slug in referenced_segments(tree) if tree is not None else ():
            if slug in by_slug:
                visit(by_slug[slug], depth + 1)
        ordered.append(pk)

    for pk in segment_ids:
        visit(pk)
    return ordered


def segments_evaluate_many(
    *, segment_ids: list[int], now: datetime.datetime | None = None
) -> list[SegmentRun | None]:
    """Evaluate several segments in dependency order, sharing their event scans.

    Each rule is parsed once, here, and handed to its evaluation. The counts and sums of events
    that the rules compare are computed once per event name into temporary tables
    (``segments.compiler.shared_measures``), and the profile columns the rules read are copied
    once into a narrow temporary table; when the union of the rules' candidates is small
    (``segments.compiler.shared_candidates``), both hold only those profiles, whose events are
    read through the index. Then each segment is evaluated as ``segment_evaluate`` does, reading
    only its own columns of those tables. All use the same ``now``, so the shared measures mean
    the same for every rule.
    """
    now = now or timezone.now()
    rows = Segment.objects.filter(pk__in=segment_ids).values_list("pk", "slug", "kind", "rule")
    slugs, parsed = {}, {}
    for pk, slug, kind, rule in rows:
        slugs[pk] = slug
        if kind == Segment.Kind.DYNAMIC:
            parsed[pk] = rule_parse(rule=rule, slug=slug)
    ordered = _dependency_order(segment_ids, slugs, parsed)
    trees = [parsed[pk].tree for pk in ordered if pk in parsed and parsed[pk].tree is not None]
    plan = _shared_plan(trees, now)
    try:
        if plan is not None:
            shared_measures_fill(plan=plan, now=now)
        return [
            segment_evaluate(segment_id=pk, now=now, shared=plan, parsed=parsed.get(pk))
            for pk in ordered
        ]
    finally:
        if plan is not None:
            shared_measures_drop(plan=plan)


def _shared_plan(trees: list[Node], now: datetime.datetime) -> SharedMeasures | None:
    """Return the plan of the tables the rules share, or None when they share nothing.

    When the union of the rules' candidates is small enough (``shared_candidates``), every
    table holds only those profiles.
    """
    keys = set().union(*(measure_keys(tree) for tree in trees))
    tags = set().union(*(tag_slugs(tree) for tree in trees))
    # A narrow copy of the profile columns pays for itself once several rules scan it.
    columns = profile_columns(trees) if len(trees) >= SHARED_PROFILES_FROM else None
    # The copy holds only the profiles satisfying the conditions all the rules require.
    common = common_conditions(trees) if columns is not None else ()
    if not (keys or tags or columns):
        return None
    candidates = shared_candidates(trees, now=now) if keys else None
    return shared_measures(
        keys, tags=tags, profile_columns=columns, common=common, candidates=candidates,
        profiling_checked=all(uses_behaviour(tree) for tree in trees),
    )  # fmt: skip


def shared_measures_drop(*, plan: SharedMeasures) -> None:
    """Drop the temporary tables of a shared-measures plan."""
    with connection.cursor() as cursor:
        extra = filter(None, [plan.profiles, plan.candidates])
        for table in [*plan.tables, *plan.tags.values(), *extra]:
            cursor.execute(segment_sql.table_drop(table))


def _steps_run(steps: list[segment_sql.Step], params) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement, takes_params in steps:
            cursor.execute(statement, params if takes_params else None)


def shared_measures_fill(*, plan: SharedMeasures, now: datetime.datetime) -> None:
    """Create and fill the temporary tables of a shared-measures plan.

    The union of the rules' candidates first, if the plan restricts to it (with a narrow copy
    of the profiles, the copy holds them and the table of ids is read from it); then each table
    of measures by one scan of its event window (of those candidates' events only, by one
    LATERAL probe each where the database has it), each table of tag carriers by one query,
    each then indexed; then the narrow copy of the profile columns, if the plan has one and it
    is not filled yet (statements in ``segments.sql``).
    """
    copied = plan.candidates is not None and plan.profiles is not None and not plan.common
    if copied:  # the candidates' columns in one read of the profiles, their ids from those
        _profiles_copy(plan, now)
        select = segment_sql.shared_ids_as_profiles(plan.profiles)
        _steps_run(segment_sql.ids_table_fill(plan.candidates, select), ())
    elif plan.candidates is not None:  # first: the other tables hold only these profiles
        select, params = select_sql(shared_candidates_query(plan))
        _steps_run(segment_sql.ids_table_fill(plan.candidates, select), params)
    for table in plan.tables:
        found = shared_measure_columns(plan, table)
        columns = [(name, measure) for name, measure, _days, _where in found]
        lateral = plan.candidates is not None and segment_sql.lateral_supported()
        query = shared_measures_query(plan, table, now=now, per_candidate=lateral)
        select, params = select_sql(query)
        if lateral:
            select = segment_sql.per_candidate(plan.candidates, select)
        _steps_run(segment_sql.measures_table_fill(table, columns, select), params)
    for slug, table in plan.tags.items():
        select, params = select_sql(shared_tag_query(slug, now=now, plan=plan))
        _steps_run(segment_sql.ids_table_fill(table, select), params)
    if plan.profiles is not None and not copied:  # after the tables the common conditions read
        _profiles_copy(plan, now)


def _profiles_copy(plan: SharedMeasures, now: datetime.datetime) -> None:
    select, params = select_sql(shared_profiles_query(plan, now=now))
    _steps_run(segment_sql.copy_table_fill(plan.profiles, select), params)


def segment_queue(*, segment: Segment, user=None) -> None:
    """Mark a dynamic segment queued and send its evaluation once the transaction commits;
    ``user``, who asked for it, is notified when it ends."""
    from segments.tasks import segment_evaluate_task  # tasks import this module

    Segment.objects.filter(pk=segment.pk).exclude(status=Segment.Status.EVALUATING).update(
        status=Segment.Status.QUEUED
    )
    user_id = user.pk if user is not None and user.is_authenticated else None
    transaction.on_commit(lambda: segment_evaluate_task.delay(segment.pk, user_id))


def segment_run_notify(*, run: SegmentRun | None, user_id: int | None) -> None:
    """Tell the user who asked for an evaluation how it ended (nothing if another worker ran it)."""
    if run is None:
        return
    segment = run.segment
    notification_send(
        user_id=user_id,
        topic="segment",
        level=Notification.Level.FAILED if run.error else Notification.Level.DONE,
        params={
            "name": segment.name,
            "size": run.size or 0,
            "entered": run.entered or 0,
            "exited": run.exited or 0,
        },
        url=reverse("segments:detail", args=[segment.slug]),
    )


def segment_memberships_move(*, source: Profile, target: Profile) -> int:
    """Move a merged profile's memberships and transitions to the kept profile.

    Where both were members of a segment, the target's row stays (with the earlier ``since``);
    the next evaluation settles anything the merge changed.
    """
    shared = SegmentMembership.objects.filter(
        profile=source,
        segment_id__in=SegmentMembership.objects.filter(profile=target).values("segment_id"),
    )
    for segment_id, since in shared.values_list("segment_id", "since"):
        SegmentMembership.objects.filter(
            profile=target, segment_id=segment_id, since__gt=since
        ).update(since=since)
    shared.delete()
    SegmentTransition.objects.filter(profile=source).update(profile=target)
    return SegmentMembership.objects.filter(profile=source).update(profile=target)


SEGMENT_FIELDS = ("name", "slug", "description", "kind", "refresh_minutes", "rule")


def segment_save(
    *, segment: Segment | None = None, data: dict, tree: Node | None = None, user=None
) -> Segment:
    """Create or update a segment from checked ``data``; queue a dynamic one for evaluation.

    The rule is checked here (``Segment.clean`` runs ``parse_rule``), so an invalid rule never
    reaches the database whoever calls this, unless the caller passes the ``tree`` it parsed
    from this very rule, slug included (the segment form does), so it is parsed once per save.
    A static list keeps the rule ``{}``.
    """
    segment = segment or Segment()
    for name in SEGMENT_FIELDS:
        if name in data:
            setattr(segment, name, data[name])
    if segment.kind == Segment.Kind.STATIC:
        segment.rule = {}
    elif tree is not None and rule_to_json(tree) == segment.rule:  # the tree of this very rule
        segment.rule_checked(tree)
    segment.full_clean()
    with transaction.atomic():
        segment.save()
        if segment.kind == Segment.Kind.DYNAMIC:
            segment_queue(segment=segment, user=user)
    return segment
