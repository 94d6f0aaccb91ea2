"""Every database-specific SQL statement of the campaigns app, one function each.

Each runs on PostgreSQL and on SQLite (a portable form where PostgreSQL's is not);
``tests/campaigns/test_sql.py`` runs them on whichever database the suite uses (the CI runs it
on both).
"""

import datetime
import uuid

from django.db import connection, transaction

from campaigns.models import Send


def sends_mark_sent(
    *, batch: uuid.UUID, rows: list[tuple[int, datetime.datetime, str, str, int, int]]
) -> None:
    """Mark ledger rows sent, only while ``batch`` still holds them ("sending").

    ``rows``: (id, sent_at, message_id, address, attempts, parts) each. PostgreSQL: one
    ``UPDATE … FROM (VALUES …)`` in a transaction of its own committed with
    ``synchronous_commit`` off (``set_config(…, true)`` is ``SET LOCAL``): visible at once and
    safe from a crash of the worker; only a crash of the database server itself can lose the
    last few hundred milliseconds of them (their rows are then re-queued by the sweep and sent
    again). Elsewhere: an executemany in one transaction.
    """
    if not rows:
        return
    field = Send._meta.get_field
    batch_value = field("batch").get_db_prep_value(batch, connection)
    table = connection.ops.quote_name(Send._meta.db_table)
    if connection.vendor == "postgresql":
        value = "(%s::bigint, %s::timestamptz, %s::text, %s::text, %s::integer, %s::integer)"
        sql = (
            "WITH options AS (SELECT set_config('synchronous_commit', 'off', true)) "
            f"UPDATE {table} AS s SET status = %s, sent_at = v.sent_at, "
            "message_id = v.message_id, address = v.address, attempts = v.attempts, "
            f"parts = v.parts, error = '' FROM options, (VALUES {', '.join([value] * len(rows))}) "
            "AS v (id, sent_at, message_id, address, attempts, parts) "
            # ``status || ''`` keeps the planner off send_stale_idx: its statistics rarely see a
            # row in "sending", so it would read every row being sent (all workers' batches) to
            # find these few, where the primary key finds each at once.
            "WHERE s.id = v.id AND s.batch = %s AND s.status || '' = %s"
        )
        params: list = [Send.Status.SENT]
        for row in rows:
            params.extend(row)
        params += [batch_value, Send.Status.SENDING]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    sql = (
        f"UPDATE {table} SET status = %s, sent_at = %s, message_id = %s, "
        "address = %s, attempts = %s, parts = %s, error = '' "
        "WHERE id = %s AND batch = %s AND status = %s"
    )
    sent_at = field("sent_at")
    params = [
        (
            Send.Status.SENT,
            sent_at.get_db_prep_value(when, connection),
            message_id,
            address,
            attempts,
            parts,
            pk,
            batch_value,
            Send.Status.SENDING,
        )
        for pk, when, message_id, address, attempts, parts in rows
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


def ledger_analyze() -> None:
    """Refresh the planner's statistics of the send ledger (PostgreSQL's ANALYZE; SQLite's
    ANALYZE of the table). Run after a large audience is frozen: without statistics the
    first batches' claims and guards would scan the whole ledger."""
    table = connection.ops.quote_name(Send._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
