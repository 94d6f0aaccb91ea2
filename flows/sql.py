"""Every database-specific statement of the flows app, one function each (PostgreSQL and SQLite)."""

import datetime
import json
from typing import NamedTuple

from django.db import connection

from flows.models import Enrollment, Flow, StepRun
from profiles.models import Profile

# What a claim returns of each enrollment (the engine's Item, in this order).
CLAIMED = ("id", "profile_id", "flow_id", "version_id", "entry", "step_key", "step_since")
CLAIMED += ("entered_at",)


def enrollments_claim(*, now: datetime.datetime, limit: int) -> list[tuple]:
    """Claim up to ``limit`` due enrollments of live flows for this transaction; return their
    rows (the ``CLAIMED`` columns) in id order.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers on any number of machines take disjoint
    batches; the rows stay locked until the caller writes their next place and commits, and a
    crash gives them back. SQLite: the UPDATE takes the database's write lock first, so a second
    writer waits, then sees the rows no longer due (compare-and-set: a claimed row's
    ``wake_at`` is null until the caller writes its next one in the same transaction).
    """
    table = connection.ops.quote_name(Enrollment._meta.db_table)
    flows = connection.ops.quote_name(Flow._meta.db_table)
    due = (
        f"FROM {table} e JOIN {flows} f ON f.id = e.flow_id "
        "WHERE e.status = %s AND e.wake_at <= %s AND f.status = %s ORDER BY e.wake_at LIMIT %s"
    )
    if connection.vendor == "postgresql":
        columns = ", ".join(f"e.{name}" for name in CLAIMED)
        sql = f"SELECT {columns} {due} FOR UPDATE OF e SKIP LOCKED"
    else:
        sql = (
            f"UPDATE {table} SET wake_at = NULL WHERE id IN (SELECT e.id {due}) "
            f"AND wake_at IS NOT NULL RETURNING {', '.join(CLAIMED)}"
        )
    value = Enrollment._meta.get_field("wake_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Enrollment.Status.ACTIVE, value, Flow.Status.LIVE, limit])
        rows = cursor.fetchall()
    if connection.vendor != "postgresql":  # SQLite answers text for datetimes
        rows = [(*row[:6], _datetime(row[6]), _datetime(row[7])) for row in rows]
    return sorted(rows)


def _datetime(value) -> datetime.datetime:
    return connection.ops.convert_datetimefield_value(value, None, connection)


class Place(NamedTuple):
    """Where an enrollment stands after a batch: the columns ``enrollments_place`` writes."""

    status: str
    step_key: str
    step_since: datetime.datetime
    wake_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    exit_reason: str


def _ids_match(column: str = "id") -> str:
    """Return the condition "``column`` is one of the ids given as one parameter" (``_ids``)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)"
    return f"{column} IN (SELECT value FROM json_each(%s))"


def _ids(ids: list[int]):
    return ids if connection.vendor == "postgresql" else json.dumps(ids)


def enrollments_place(*, groups: dict[Place, list[int]]) -> None:
    """Write each group's place on its enrollments: one UPDATE per group, the ids as one
    parameter (an array on PostgreSQL, a JSON list on SQLite)."""
    table = connection.ops.quote_name(Enrollment._meta.db_table)
    names = ", ".join(f"{name} = %s" for name in Place._fields)
    sql = f"UPDATE {table} SET {names} WHERE {_ids_match()}"
    fields = [Enrollment._meta.get_field(name) for name in Place._fields]
    with connection.cursor() as cursor:
        for place, ids in groups.items():
            values = [f.get_db_prep_save(v, connection) for f, v in zip(fields, place, strict=True)]
            cursor.execute(sql, [*values, _ids(ids)])


class RunValues(NamedTuple):
    """What a group of step runs shares: all but the enrollment (``detail`` as JSON text)."""

    flow_id: int
    step_key: str
    status: str
    outcome: str
    detail: str


def step_runs_of(*, step_key: str, enrollment_ids: list[int]) -> list[StepRun]:
    """Return the runs of this step that these enrollments have, in one query."""
    table = connection.ops.quote_name(StepRun._meta.db_table)
    sql = f"SELECT * FROM {table} WHERE step_key = %s AND {_ids_match('enrollment_id')}"
    return list(StepRun.objects.raw(sql, [step_key, _ids(enrollment_ids)]))


def step_runs_insert(*, runs: dict[RunValues, list[int]], at: datetime.datetime) -> int:
    """Insert one StepRun per enrollment id, one statement per group of equal values; return
    how many. The ids travel as one array (PostgreSQL) or one JSON list (SQLite) parameter."""
    table = connection.ops.quote_name(StepRun._meta.db_table)
    if connection.vendor == "postgresql":
        detail, ids = "%s::jsonb", "unnest(%s::bigint[]) AS e(value)"
    else:
        detail, ids = "%s", "json_each(%s)"
    sql = (
        f"INSERT INTO {table} (enrollment_id, flow_id, step_key, status, outcome, detail, "
        f"attempts, at) SELECT value, %s, %s, %s, %s, {detail}, 0, %s FROM {ids}"
    )
    moment = StepRun._meta.get_field("at").get_db_prep_value(at, connection)
    inserted = 0
    with connection.cursor() as cursor:
        for values, enrollment_ids in runs.items():
            cursor.execute(sql, [*values, moment, _ids(enrollment_ids)])
            inserted += len(enrollment_ids)
    return inserted


def traits_merge(*, profile_ids: list[int], traits: dict) -> int:
    """Set the given traits on these profiles, keeping their other traits; return rows changed."""
    if not profile_ids or not traits:
        return 0
    table = connection.ops.quote_name(Profile._meta.db_table)
    merge = "traits || %s::jsonb" if connection.vendor == "postgresql" else "json_patch(traits, %s)"
    marks = ", ".join(["%s"] * len(profile_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET traits = {merge} WHERE id IN ({marks})",
            [json.dumps(traits), *profile_ids],
        )
        return cursor.rowcount
