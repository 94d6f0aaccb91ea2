"""The database-specific statements of profiles: ingest's writers, the bulk tag insert and the
features refresh. ``tests/profiles/test_sql.py`` runs each on the suite's database (the CI runs
it on SQLite and on PostgreSQL).

Ingest, on PostgreSQL: each batch is COPied into a temporary stage table, then written with
set-based INSERT … ON CONFLICT / UPDATE … FROM statements. Other databases (SQLite): one
executemany of INSERT … ON CONFLICT per batch. Rows come as tuples in the order of
``PROFILE_COLUMNS`` and ``EVENT_COLUMNS``; each function returns what it counted.
"""

import datetime
import json

from django.conf import settings
from django.db import connection
from django.db.models import Field, QuerySet
from django.utils import timezone

from core import fields
from core.bulk import CsvRows, column_defaults, copy_bytes
from core.sql import insert_values, quote, select_sql, stage_table
from profiles.models import TOUCHPOINT_BITS, Event, Gender, Profile, ProfileTag

# The importable profile fields, from the catalogue (``core.fields``): text kinds are stored
# blank rather than NULL (empty keeps what is stored), the others NULL (NULL keeps it).
PROFILE_FIELDS = fields.IMPORTED_FIELDS
TEXT_FIELDS = tuple(
    n for n in PROFILE_FIELDS if fields.PROFILE_FIELDS_BY_NAME[n].type in fields.TEXT_TYPES
)
NULL_FIELDS = tuple(n for n in PROFILE_FIELDS if n not in TEXT_FIELDS)
PROFILE_COLUMNS = ("external_id", *PROFILE_FIELDS, "traits")
_STAGE_TYPES = {fields.DATE: "date", fields.DATETIME: "timestamptz", fields.WHOLE: "bigint",
                fields.DECIMAL: "numeric"}  # fmt: skip
EVENT_COLUMNS = ("external_id", "name", "channel", "occurred_at", "amount", "properties", "key")
PROFILE_STAGE = (
    "ingest_profile_stage",
    ", ".join(
        [
            "external_id text",
            *(
                f"{name} {_STAGE_TYPES.get(fields.PROFILE_FIELDS_BY_NAME[name].type, 'text')}"
                for name in PROFILE_FIELDS
            ),
            "traits jsonb",
        ]
    ),
)
EVENT_STAGE = (
    "ingest_event_stage",
    "external_id text, name text, channel text, occurred_at timestamptz, amount numeric, "
    "properties jsonb, key text",
)
EVENT_IDS_STAGE = ("ingest_event_ids", "external_id text, id bigint")
LAST_SEEN_STAGE = ("ingest_last_seen", "external_id text, seen timestamptz")
_RETURNING_EVENT = " RETURNING profile_id, name, occurred_at, properties"
_KEYS_PER_QUERY = 900  # under SQLite's oldest limit of 999 parameters a statement


def batch_prepare(rows: list[tuple]) -> list[tuple] | CsvRows:
    """Return a batch in the form this database's writers take (CSV for COPY on PostgreSQL).

    Called by the thread that cleans the rows, so a writer lane has little Python left to run.
    """
    return CsvRows.of(rows) if connection.vendor == "postgresql" else rows


def profiles_upsert(rows: list[tuple] | CsvRows) -> tuple[int, int]:
    """Insert new profiles and merge rows into stored ones; return (created, updated).

    Empty text and missing dates keep what is stored, traits are merged key by key, a new
    profile without a gender gets "unknown"; a stored profile nothing changes is not updated.
    """
    if connection.vendor == "postgresql":
        return _profiles_upsert_staged(rows)
    return _profiles_upsert_each(rows)


def events_store(
    rows: list[tuple] | CsvRows, now: datetime.datetime, *, inserted: list | None = None
) -> tuple[int, int]:
    """Store events whose key is new, creating unknown profiles; return (created, new profiles).

    With ``inserted`` (a list), add to it (profile_id, name, occurred_at, properties) of each
    event inserted (not those whose key was stored already); properties as a dict or JSON text.
    """
    if connection.vendor == "postgresql":
        return _events_store_staged(rows, now, inserted)
    return _events_store_each(rows, now, inserted)


def _profile_changes(table: str, source: str) -> tuple[list[str], list[str]]:
    """Return the SET items and the "something changed" tests merging ``source`` into a profile."""
    sets, changed = [], []
    for name in TEXT_FIELDS:
        sets.append(f"{name} = COALESCE(NULLIF({source}.{name}, ''), {table}.{name})")
        changed.append(f"({source}.{name} <> '' AND {source}.{name} <> {table}.{name})")
    for name in NULL_FIELDS:
        sets.append(f"{name} = COALESCE({source}.{name}, {table}.{name})")
        changed.append(
            f"({source}.{name} IS NOT NULL AND ({table}.{name} IS NULL "
            f"OR {source}.{name} <> {table}.{name}))"
        )
    # Traits merge key by key, unless the result would hold more than PROFILE_MAX_TRAITS: the
    # stored traits then stay as they are.
    limit = int(settings.PROFILE_MAX_TRAITS)
    if connection.vendor == "postgresql":
        merged = f"{table}.traits || {source}.traits"
        kept = (
            f"CASE WHEN (SELECT count(*) FROM jsonb_object_keys({merged})) <= {limit} "
            f"THEN {merged} ELSE {table}.traits END"
        )
        sets.append(f"traits = {kept}")
        changed.append(f"({kept}) <> {table}.traits")
    else:
        merged = f"json_patch({table}.traits, {source}.traits)"
        kept = (
            f"CASE WHEN (SELECT count(*) FROM json_each({merged})) <= {limit} "
            f"THEN {merged} ELSE {table}.traits END"
        )
        sets.append(f"traits = {kept}")
        changed.append(f"json({kept}) <> json({table}.traits)")
    return sets, changed


def _stage(cursor, stage: tuple[str, str]) -> None:
    for statement in stage_table(*stage):
        cursor.execute(statement)


def _default_marks(defaults: list[tuple]) -> tuple[str, str]:
    """Return the column list and the typed placeholders for the default-valued columns."""
    columns = ", ".join(quote(f.column) for f, _v in defaults)
    marks = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f, _v in defaults)
    return columns, marks


def _profiles_upsert_staged(rows: CsvRows) -> tuple[int, int]:
    """Upsert on PostgreSQL: COPY into a stage table, insert the new, update the changed.

    New profiles are inserted in external_id order (index pages then fill in order); only
    when some already existed does the update run.
    """
    table = quote(Profile._meta.db_table)
    column_list = ", ".join(quote(c) for c in PROFILE_COLUMNS)
    defaults = column_defaults(Profile, exclude=set(PROFILE_COLUMNS))
    default_columns, default_marks = _default_marks(defaults)
    values = ", ".join(
        "COALESCE(NULLIF(s.gender, ''), %s)" if c == "gender" else f"s.{quote(c)}"
        for c in PROFILE_COLUMNS
    )
    sets, changed = _profile_changes(table, "s")
    with connection.cursor() as cursor:
        _stage(cursor, PROFILE_STAGE)
        copy_bytes(
            cursor, PROFILE_STAGE[0], PROFILE_COLUMNS, [rows.payload],
            csv=True, force_null=NULL_FIELDS,
        )  # fmt: skip
        cursor.execute(
            f"INSERT INTO {table} ({column_list}, {default_columns}) "
            f"SELECT {values}, {default_marks} FROM {PROFILE_STAGE[0]} s "
            f"ORDER BY s.external_id ON CONFLICT (external_id) DO NOTHING",
            [Gender.UNKNOWN, *(adapt(f, v) for f, v in defaults)],
        )
        created = cursor.rowcount
        if created == len(rows):
            return created, 0
        # Rows just inserted equal their staged values, so only the older ones can change.
        cursor.execute(
            f"UPDATE {table} SET {', '.join(sets)}, updated_at = %s FROM {PROFILE_STAGE[0]} s "
            f"WHERE {table}.external_id = s.external_id AND ({' OR '.join(changed)})",
            [timezone.now()],
        )
        return created, cursor.rowcount


def _profiles_upsert_each(rows: list[tuple]) -> tuple[int, int]:
    """Upsert in one executemany of INSERT … ON CONFLICT DO UPDATE (SQLite and others)."""
    ids = [row[0] for row in rows]
    existing = set(
        Profile.objects.filter(external_id__in=ids).values_list("external_id", flat=True)
    )
    defaults = column_defaults(Profile, exclude=set(PROFILE_COLUMNS))
    columns = [*PROFILE_COLUMNS, *(f.column for f, _value in defaults)]
    constants = tuple(adapt(f, value) for f, value in defaults)
    rows = [
        (*(adapt_column(value) for adapt_column, value in zip(_ROW_ADAPTERS, row, strict=True)),
         *constants)
        for row in rows
    ]  # fmt: skip
    sets, changed = _profile_changes(quote(Profile._meta.db_table), "excluded")
    sets.append("updated_at = excluded.updated_at")
    conflict = f"(external_id) DO UPDATE SET {', '.join(sets)} WHERE {' OR '.join(changed)}"
    with connection.cursor() as cursor:
        cursor.executemany(insert_values(Profile._meta.db_table, columns, conflict), rows)
        written = cursor.rowcount
    # New profiles without a gender get "unknown", never an empty value.
    Profile.objects.filter(external_id__in=ids, gender="").update(gender=Gender.UNKNOWN)
    created = len(ids) - len(existing)
    return created, written - created


def adapt(field: Field, value):
    """Return ``value`` as the database driver takes it for ``field`` (JSON as text)."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime.datetime):
        return _adapt_moment(value)
    if connection.vendor == "postgresql":
        return value
    return field.get_db_prep_value(value, connection)


def _adapt_moment(value):
    if value is None or connection.vendor == "postgresql":
        return value
    return connection.ops.adapt_datetimefield_value(value)


def _adapt_date(value):
    if value is None or connection.vendor == "postgresql":
        return value
    return connection.ops.adapt_datefield_value(value)


def _as_is(value):
    return value


def _column_adapter(name: str):
    kind = fields.PROFILE_FIELDS_BY_NAME[name].type if name in PROFILE_FIELDS else None
    return {fields.DATE: _adapt_date, fields.DATETIME: _adapt_moment}.get(kind, _as_is)


# How each column of PROFILE_COLUMNS is handed to SQLite's driver (dates and moments as text).
_ROW_ADAPTERS = tuple(_column_adapter(name) for name in PROFILE_COLUMNS)


def _events_store_staged(
    rows: CsvRows, now: datetime.datetime, inserted: list | None = None
) -> tuple[int, int]:
    """Store a batch on PostgreSQL: COPY it into a stage table, then set-based steps.

    Look up each distinct external_id once (in index order), create the unknown profiles,
    then insert the events whose key is new in profile order, so index pages and the
    foreign-key checks at commit touch the profile table in order rather than at random.
    """
    profile_table, event_table = quote(Profile._meta.db_table), quote(Event._meta.db_table)
    with connection.cursor() as cursor:
        _stage(cursor, EVENT_STAGE)
        _stage(cursor, EVENT_IDS_STAGE)
        copy_bytes(
            cursor, EVENT_STAGE[0], EVENT_COLUMNS, [rows.payload], csv=True, force_null=["amount"]
        )
        cursor.execute(
            f"INSERT INTO ingest_event_ids (external_id, id) "
            f"SELECT w.external_id, p.id "
            f"FROM (SELECT DISTINCT external_id FROM ingest_event_stage ORDER BY 1) w "
            f"LEFT JOIN {profile_table} p ON p.external_id = w.external_id"
        )
        cursor.execute("SELECT count(*) FROM ingest_event_ids WHERE id IS NULL")
        missing = cursor.fetchone()[0]
        created_profiles = _create_bare_profiles(cursor) if missing else 0
        if created_profiles < missing:  # another import created some meanwhile: look again
            cursor.execute(
                f"UPDATE ingest_event_ids i SET id = p.id FROM {profile_table} p "
                f"WHERE i.id IS NULL AND p.external_id = i.external_id"
            )
        cursor.execute(
            f"INSERT INTO {event_table} (profile_id, name, channel, occurred_at, amount, "
            f"properties, key, received_at) "
            f"SELECT i.id, s.name, s.channel, s.occurred_at, s.amount, s.properties, s.key, %s "
            f"FROM ingest_event_stage s JOIN ingest_event_ids i ON i.external_id = s.external_id "
            f"WHERE i.id IS NOT NULL ORDER BY i.id "
            f"ON CONFLICT (key) DO NOTHING{'' if inserted is None else _RETURNING_EVENT}",
            [now],
        )
        if inserted is not None:
            inserted.extend(cursor.fetchall())
        return cursor.rowcount, created_profiles


def _create_bare_profiles(cursor) -> int:
    """Create the profiles ingest_event_ids lacks and fill in their ids; return how many."""
    profile_table = quote(Profile._meta.db_table)
    defaults = column_defaults(Profile, exclude={"external_id"})
    default_columns, default_marks = _default_marks(defaults)
    cursor.execute(
        f"WITH created AS (INSERT INTO {profile_table} (external_id, {default_columns}) "
        f"SELECT external_id, {default_marks} FROM ingest_event_ids WHERE id IS NULL "
        f"ORDER BY external_id ON CONFLICT (external_id) DO NOTHING RETURNING id, external_id) "
        f"UPDATE ingest_event_ids i SET id = c.id FROM created c "
        f"WHERE i.external_id = c.external_id",
        [adapt(f, v) for f, v in defaults],
    )
    return cursor.rowcount


def _ensure_profiles(external_ids: set[str], now: datetime.datetime) -> tuple[dict[str, int], int]:
    """Return ids for ``external_ids``, creating bare profiles for unknown ones."""
    known = dict(
        Profile.objects.filter(external_id__in=external_ids).values_list("external_id", "pk")
    )
    missing = external_ids - known.keys()
    if missing:
        Profile.objects.bulk_create(
            [Profile(external_id=e, created_at=now, updated_at=now) for e in sorted(missing)],
            ignore_conflicts=True,
            batch_size=1000,
        )
        known.update(
            Profile.objects.filter(external_id__in=missing).values_list("external_id", "pk")
        )
    return known, len(missing)


def _events_store_each(
    rows: list[tuple], now: datetime.datetime, inserted: list | None = None
) -> tuple[int, int]:
    """Map external ids to profile ids in Python, then one executemany skipping known keys."""
    ids, created_profiles = _ensure_profiles({row[0] for row in rows}, now)
    adapt_moment = connection.ops.adapt_datetimefield_value
    received = adapt_moment(now)
    values = [
        (ids[external_id], name, channel, adapt_moment(occurred_at),
         None if amount is None else str(amount), properties, key, received)
        for external_id, name, channel, occurred_at, amount, properties, key in rows
    ]  # fmt: skip
    columns = ("profile_id", *EVENT_COLUMNS[1:], "received_at")
    with connection.cursor() as cursor:
        cursor.executemany(insert_values(Event._meta.db_table, columns, "(key) DO NOTHING"), values)
        created = cursor.rowcount
    if inserted is not None and created:
        inserted.extend(_events_inserted(rows, ids, now, everything=created == len(rows)))
    return created, created_profiles


def _events_inserted(
    rows: list[tuple], ids: dict[str, int], now: datetime.datetime, *, everything: bool
) -> list[tuple]:
    """Return (profile_id, name, occurred_at, properties) of the rows ``_events_store_each``
    inserted: all of them (``everything``), else those of the batch's keys received ``now``."""
    if everything:
        return [(ids[row[0]], row[1], row[3], row[5]) for row in rows]
    keys = [row[6] for row in rows]
    found: list[tuple] = []
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        found.extend(
            Event.objects.filter(
                key__in=keys[start : start + _KEYS_PER_QUERY], received_at=now
            ).values_list("profile_id", "name", "occurred_at", "properties")
        )
    return found


def last_seen_touch(latest: dict[str, datetime.datetime]) -> None:
    """Move last_seen_at forward to the latest event ingested, per external_id, set-based.

    On PostgreSQL the profiles are updated in external_id order, the order imports create
    them in, so the heap and index pages are visited in order rather than at random.
    """
    table = quote(Profile._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _stage(cursor, LAST_SEEN_STAGE)
            payload = CsvRows.of(sorted(latest.items())).payload
            copy_bytes(cursor, LAST_SEEN_STAGE[0], ("external_id", "seen"), [payload], csv=True)
            cursor.execute(
                f"UPDATE {table} p SET last_seen_at = s.seen FROM ingest_last_seen s "
                f"WHERE p.external_id = s.external_id "
                f"AND (p.last_seen_at IS NULL OR p.last_seen_at < s.seen)"
            )
            return
        adapt_moment = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"UPDATE {table} SET last_seen_at = %s WHERE external_id = %s "
            f"AND (last_seen_at IS NULL OR last_seen_at < %s)",
            [(adapt_moment(seen), eid, adapt_moment(seen)) for eid, seen in latest.items()],
        )


def profile_tags_insert(profiles: QuerySet[Profile], values: dict) -> int:
    """Give each profile ``profiles`` selects a ProfileTag row of ``values`` (field name: value),
    with one INSERT … SELECT; a profile already carrying the tag keeps its row. Return how many
    rows were inserted.

    PostgreSQL types the constants by a CAST (a bare parameter in a SELECT list is text there);
    ``WHERE 1 = 1`` lets SQLite read ``ON CONFLICT`` as the upsert clause, not a join's ``ON``.
    """
    meta = ProfileTag._meta
    pk = Profile._meta.pk
    select, select_params = select_sql(profiles.order_by().values(pk.attname))
    columns = ", ".join(quote(meta.get_field(name).column) for name in ["profile", *values])
    constants = []
    for name in values:
        cast = meta.get_field(name).cast_db_type(connection)
        constants.append(f"CAST(%s AS {cast})" if connection.vendor == "postgresql" else "%s")
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "
        f"SELECT matching.{quote(pk.column)}, {', '.join(constants)} "
        f"FROM ({select}) matching WHERE 1 = 1 "
        "ON CONFLICT DO NOTHING"
    )
    params = [
        connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, datetime.datetime)
        else value
        for value in values.values()
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *select_params])
        return cursor.rowcount


# Whole days between %(now)s and f.last_purchase_at, by vendor. PostgreSQL subtracts the
# timestamps exactly; on SQLite, Django's own django_timestamp_diff() gives whole microseconds,
# so the integer division is exact too (julianday() arithmetic is a float and can miss a day).
_RECENCY_SQL = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM (%(now)s - f.last_purchase_at)) / 86400)",
    "sqlite": "django_timestamp_diff(%(now)s, f.last_purchase_at) / 86400000000",
}

# One statement: aggregate the events per profile (one scan), join every profile (those without
# events get zeros and nulls), score the purchasers of the window, and write it all back. It
# starts with UPDATE (the CTEs live in the FROM subquery) so that SQLite reports the row count.
_REFRESH_SQL = """
UPDATE {profile} SET
    recency_days = s.recency_days,
    frequency = s.frequency,
    monetary = s.monetary,
    r_score = s.r_score,
    f_score = s.f_score,
    m_score = s.m_score,
    value_tier = CASE
        WHEN s.r_score IS NULL THEN %(mass)s
        WHEN s.r_score + s.f_score + s.m_score >= %(high_min)s THEN %(high)s
        WHEN s.r_score + s.f_score + s.m_score >= %(mid_min)s THEN %(mid)s
        ELSE %(mass)s
    END,
    last_seen_at = s.last_seen_at,
    first_purchase_at = s.first_purchase_at,
    last_purchase_at = s.last_purchase_at,
    touchpoints = s.touchpoints,
    features_at = %(now)s
FROM (
    WITH agg AS (
        SELECT e.profile_id,
            MAX(e.occurred_at) AS last_seen_at,
            MIN(CASE WHEN e.name = %(purchase)s THEN e.occurred_at END) AS first_purchase_at,
            MAX(CASE WHEN e.name = %(purchase)s THEN e.occurred_at END) AS last_purchase_at,
            COUNT(CASE WHEN e.name = %(purchase)s AND e.occurred_at >= %(since)s THEN 1 END)
                AS frequency,
            ROUND(SUM(CASE WHEN e.name = %(purchase)s AND e.occurred_at >= %(since)s
                THEN COALESCE(e.amount, 0) ELSE 0 END), 2) AS monetary,
            SUM(DISTINCT CASE WHEN e.occurred_at >= %(touch_since)s THEN {touchpoint_bit} END)
                AS touchpoints
        FROM {event} e
        WHERE e.occurred_at <= %(now)s
        GROUP BY e.profile_id
    ),
    f AS (
        SELECT p.id, agg.last_seen_at, agg.first_purchase_at, agg.last_purchase_at,
            COALESCE(agg.frequency, 0) AS frequency, COALESCE(agg.monetary, 0) AS monetary,
            COALESCE(agg.touchpoints, 0) AS touchpoints
        FROM {profile} p LEFT JOIN agg ON agg.profile_id = p.id
    ),
    features AS (
        SELECT f.*, {recency} AS recency_days FROM f
    ),
    scored AS (
        SELECT id,
            1 + (RANK() OVER (ORDER BY recency_days DESC) - 1) * 5 / COUNT(*) OVER () AS r_score,
            1 + (RANK() OVER (ORDER BY frequency) - 1) * 5 / COUNT(*) OVER () AS f_score,
            1 + (RANK() OVER (ORDER BY monetary) - 1) * 5 / COUNT(*) OVER () AS m_score
        FROM features
        WHERE frequency > 0
    )
    SELECT features.*, scored.r_score, scored.f_score, scored.m_score
    FROM features LEFT JOIN scored ON scored.id = features.id
) AS s
WHERE {profile}.id = s.id
"""


def features_refresh_sql() -> str:
    """Return the UPDATE that recomputes every profile's features, for this database.

    Named parameters: ``now``, ``since`` (the RFM window's start) and ``touch_since`` (the
    touchpoints' window start; all three as the ORM stores them), ``purchase`` (the event
    name), ``high_min`` and ``mid_min`` (the R + F + M thresholds), ``high``, ``mid`` and
    ``mass`` (the tiers). The row count is the number of profiles.
    """
    vendor = connection.vendor
    if vendor not in _RECENCY_SQL:
        raise NotImplementedError(f"features_refresh does not support {vendor}.")
    return _REFRESH_SQL.format(
        event=quote(Event._meta.db_table),
        profile=quote(Profile._meta.db_table),
        recency=_RECENCY_SQL[vendor],
        touchpoint_bit=_touchpoint_bit(),
    )


def _touchpoint_bit() -> str:
    """Return the SQL giving an event's touchpoint bit (TOUCHPOINT_BITS) from ``e.channel``.

    Summing the distinct bits of a profile's events is their bitwise OR, on every database.
    The values are the model's own constants, written as literals.
    """
    whens = " ".join(f"WHEN '{value}' THEN {bit}" for value, bit in TOUCHPOINT_BITS.items())
    return f"CASE e.channel {whens} END"
