"""Every database-specific statement of the flows app, one function each (PostgreSQL and SQLite)."""

import datetime
import json

from django.db import connection

from flows.models import Enrollment, Flow
from profiles.models import Profile


def enrollments_claim(*, now: datetime.datetime, limit: int) -> list[int]:
    """Claim up to ``limit`` due enrollments of live flows for this transaction; return their ids.

    A claimed row's ``wake_at`` becomes null until the caller writes its next one in the same
    transaction, so a crash gives the rows back. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
    workers on any number of machines take disjoint batches. SQLite: the UPDATE takes the
    database's write lock first, so a second writer waits, then sees the rows no longer due
    (compare-and-set on ``wake_at``).
    """
    table = connection.ops.quote_name(Enrollment._meta.db_table)
    flows = connection.ops.quote_name(Flow._meta.db_table)
    lock = " FOR UPDATE OF e SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {table} SET wake_at = NULL WHERE id IN ("
        f"SELECT e.id FROM {table} e JOIN {flows} f ON f.id = e.flow_id "
        "WHERE e.status = %s AND e.wake_at <= %s AND f.status = %s "
        f"ORDER BY e.wake_at LIMIT %s{lock}) AND wake_at IS NOT NULL RETURNING id"
    )
    value = Enrollment._meta.get_field("wake_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Enrollment.Status.ACTIVE, value, Flow.Status.LIVE, limit])
        return [row[0] for row in cursor.fetchall()]


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
