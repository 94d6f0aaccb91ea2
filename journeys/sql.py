"""The SQL statements of journeys that the ORM cannot express, one function each.

Each runs on SQLite and on PostgreSQL; ``tests/journeys/test_sql.py`` runs them on whichever
database the suite uses (the CI runs it on both). Table names come from the models (quoted),
values are always parameters.
"""

import datetime
from collections.abc import Sequence

from django.db import connection
from django.db.models import QuerySet

from core.sql import quote, select_sql
from journeys.models import StageTransition


def median_seconds(select: str, params: Sequence, start: str, end: str) -> float | None:
    """Return the median of the whole seconds from column ``start`` to column ``end`` over the
    rows ``select`` returns where ``end`` is set, or None without any.

    Exact on both: ``percentile_cont(0.5)`` on PostgreSQL; on SQLite the middle value (or the
    mean of the two middle ones) by an ORDER BY … LIMIT/OFFSET.
    """
    if connection.vendor == "postgresql":
        seconds = (
            f"ROUND(EXTRACT(EPOCH FROM (t.{quote(end)} - t.{quote(start)})))::double precision"
        )
        sql = (
            f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}) "
            f"FROM ({select}) t WHERE t.{quote(end)} IS NOT NULL"
        )
    else:
        seconds = f"ROUND((JULIANDAY(t.{quote(end)}) - JULIANDAY(t.{quote(start)})) * 86400.0)"
        durations = f"SELECT {seconds} AS s FROM ({select}) t WHERE t.{quote(end)} IS NOT NULL"
        sql = (
            f"WITH d AS ({durations}) SELECT AVG(s) FROM (SELECT s FROM d ORDER BY s "
            "LIMIT 2 - (SELECT COUNT(*) FROM d) %% 2 OFFSET ((SELECT COUNT(*) FROM d) - 1) / 2)"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        value = cursor.fetchone()[0]
    return None if value is None else float(value)


def transitions_insert(
    moving: QuerySet, *, known: Sequence[str], to_stage: str, at: datetime.datetime
) -> int:
    """Log a transition to ``to_stage`` at ``at`` for each row of ``moving`` (its ``values`` are
    ``moving_id``, the profile, then ``moving_from``, its current stage) with one INSERT …
    SELECT; return how many. The "from" stage is kept only when it is one of ``known``.
    """
    select, select_params = select_sql(moving)
    marks = ", ".join(["%s"] * len(known))
    sql = (
        f"INSERT INTO {quote(StageTransition._meta.db_table)} "
        f"(profile_id, from_stage_id, to_stage_id, at) "
        f"SELECT m.moving_id, CASE WHEN m.moving_from IN ({marks}) THEN m.moving_from END, %s, %s "
        f"FROM ({select}) m"
    )
    stored_at = connection.ops.adapt_datetimefield_value(at)  # as the ORM stores it
    with connection.cursor() as cursor:
        cursor.execute(sql, (*known, to_stage, stored_at, *select_params))
        return cursor.rowcount
