"""The one writer of segment membership: a new version as its transitions, then the rows.

Dynamic evaluation, static lists (CSV, filter, empty) and anything else that changes who is in
a segment go through ``membership_version_write``: the profiles that leave and those that enter
are logged as SegmentTransition rows of the new version (set-based, INSERT … SELECT), then the
membership rows are deleted and inserted from those transitions. An unchanged membership writes
no row at all. The statements are in ``segments.sql``. A version that changed something tells
``segments.hooks``' receivers, once the caller's transaction commits.
"""

import datetime
from collections.abc import Iterable, Sequence

from django.db import connection

from segments import sql
from segments.hooks import segment_changed_notify

Statement = tuple[str, Sequence]


def membership_version_write(
    *,
    segment_id: int,
    version: int,
    now: datetime.datetime,
    leaving: Statement | None = None,
    entering: Iterable[Statement] = (),
    once: bool = False,
) -> tuple[int, int]:
    """Write version ``version`` of the membership; return (entered, exited).

    ``leaving`` is a condition on ``sm.profile_id`` (``sql.NOT_IN_RESULT``, ``sql.EVERY_MEMBER``)
    and its parameters; ``entering`` yields SELECTs of ``profile_id`` and their parameters (one
    per chunk). Profiles already members do not enter again; with ``once``, a profile entered by
    an earlier chunk of this version is skipped. Run inside the caller's transaction.
    """
    exited = entered = 0
    with connection.cursor() as cursor:
        if leaving is not None:
            condition, params = leaving
            cursor.execute(
                sql.exits_record(condition),
                (segment_id, False, version, now, segment_id, *params),
            )
            exited = cursor.rowcount
            if exited:
                cursor.execute(sql.memberships_delete(), (segment_id, segment_id, version, False))
        for select, params in entering:
            again = (segment_id, version) if once else ()
            cursor.execute(
                sql.entries_record(select, once=once),
                (segment_id, True, version, now, *params, segment_id, *again),
            )
            entered += cursor.rowcount
        if entered:
            cursor.execute(sql.memberships_insert(), (segment_id, version, True))
    if entered or exited:
        segment_changed_notify(segment_id)
    return entered, exited
