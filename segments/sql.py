"""The SQL statements of segments that the ORM cannot express, in one place.

Each is run on SQLite and on PostgreSQL by ``tests/segments/test_sql.py``. Table names come from
the models (quoted), values are always parameters.
"""

import json

from django.db import connection

from profiles.models import Profile
from segments.models import SegmentMembership, SegmentTransition

RESULT_TABLE = "segment_eval_result"
# The memory a rule's query (and the fill of shared tables) may use per hash or sort, set for
# its own transaction only (PostgreSQL): a grouped plan then hashes and groups in memory.
QUERY_WORK_MEM = "256MB"


def _tables() -> tuple[str, str]:
    q = connection.ops.quote_name
    return q(SegmentTransition._meta.db_table), q(SegmentMembership._meta.db_table)


def query_memory() -> str:
    """Return the statement giving the rest of the transaction QUERY_WORK_MEM (PostgreSQL)."""
    return f"SET LOCAL work_mem = '{QUERY_WORK_MEM}'"


def commit_asynchronously() -> str:
    """Return the statement letting the rest of the transaction commit without waiting for its
    write-ahead log to reach the disk (PostgreSQL): for bookkeeping a crash may lose."""
    return "SET LOCAL synchronous_commit = off"


def query_memory_statements() -> list[str]:
    """Return the statements to run in a transaction before a rule's query (none on SQLite)."""
    return [query_memory()] if connection.vendor == "postgresql" else []


def result_table_create() -> list[str]:
    """Return the statements to run, in a transaction, before ``result_table_fill`` (they drop
    any earlier one, and give the query its memory; on SQLite they create the table)."""
    if connection.vendor == "postgresql":
        return [query_memory(), f"DROP TABLE IF EXISTS {RESULT_TABLE}"]
    return [
        f"DROP TABLE IF EXISTS {RESULT_TABLE}",
        f"CREATE TEMP TABLE {RESULT_TABLE} (profile_id bigint PRIMARY KEY)",
    ]


def result_table_fill(select: str) -> str:
    """Return the statement that fills the result table from a SELECT of distinct profile ids.

    On PostgreSQL it creates the table (CREATE TABLE AS), which may run the rule's query in
    parallel (INSERT … SELECT never does); ``result_table_index`` then indexes it.
    """
    if connection.vendor == "postgresql":
        return f"CREATE TEMP TABLE {RESULT_TABLE} (profile_id) AS SELECT * FROM ({select}) AS m"
    return f"INSERT INTO {RESULT_TABLE} (profile_id) SELECT * FROM ({select}) AS m"


def result_table_index() -> list[str]:
    """Return the statements to run after ``result_table_fill`` (the key on PostgreSQL)."""
    if connection.vendor == "postgresql":
        return [f"CREATE UNIQUE INDEX {RESULT_TABLE}_profile ON {RESULT_TABLE} (profile_id)"]
    return []


def result_table_drop() -> str:
    """Return the statement that drops the result table."""
    return f"DROP TABLE IF EXISTS {RESULT_TABLE}"


# The members that leave: a condition on ``sm.profile_id``.
NOT_IN_RESULT = f"NOT EXISTS (SELECT 1 FROM {RESULT_TABLE} r WHERE r.profile_id = sm.profile_id)"
EVERY_MEMBER = "1 = 1"
# The profiles that enter: a SELECT of ``profile_id``.
IN_RESULT = f"SELECT profile_id FROM {RESULT_TABLE}"


def exits_record(leaving: str) -> str:
    """Return the INSERT of an exit transition for each member satisfying ``leaving``.

    Parameters: segment id, False, version, now, segment id, then those of ``leaving``.
    """
    transitions, membership = _tables()
    return (
        f"INSERT INTO {transitions} (segment_id, entered, version, at, profile_id) "
        f"SELECT %s, %s, %s, %s, sm.profile_id FROM {membership} sm "
        f"WHERE sm.segment_id = %s AND {leaving}"
    )


def entries_record(entering: str, *, once: bool) -> str:
    """Return the INSERT of an entry transition for each profile ``entering`` selects (as
    ``profile_id``) that is not a member.

    With ``once``, a profile already entered in this version is skipped (chunks may overlap).
    Parameters: segment id, True, version, now, those of ``entering``, segment id, and with
    ``once`` the segment id and version again.
    """
    transitions, membership = _tables()
    sql = (
        f"INSERT INTO {transitions} (segment_id, entered, version, at, profile_id) "
        f"SELECT %s, %s, %s, %s, m.profile_id FROM ({entering}) AS m "
        f"WHERE NOT EXISTS (SELECT 1 FROM {membership} sm "
        f"WHERE sm.segment_id = %s AND sm.profile_id = m.profile_id)"
    )
    if once:
        sql += (
            f" AND NOT EXISTS (SELECT 1 FROM {transitions} t WHERE t.segment_id = %s "
            f"AND t.version = %s AND t.profile_id = m.profile_id)"
        )
    return sql


def memberships_delete() -> str:
    """Return the DELETE of the memberships a version's exits name (segment, segment, version)."""
    transitions, membership = _tables()
    return (
        f"DELETE FROM {membership} WHERE segment_id = %s AND profile_id IN "
        f"(SELECT profile_id FROM {transitions} "
        f"WHERE segment_id = %s AND version = %s AND entered = %s)"
    )


def memberships_insert() -> str:
    """Return the INSERT of the memberships a version's entries name (segment, version, True)."""
    transitions, membership = _tables()
    return (
        f"INSERT INTO {membership} (segment_id, profile_id, since, version_added) "
        f"SELECT segment_id, profile_id, at, version FROM {transitions} "
        f"WHERE segment_id = %s AND version = %s AND entered = %s"
    )


# The temporary tables one refresh of many segments shares (``segments.compiler.shared``).
# Each step is (statement, whether it takes the parameters of the SELECT it embeds).
Step = tuple[str, bool]


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _indexed(table: str) -> list[Step]:
    """Index a filled table by profile (faster than filling an indexed one), then analyse it."""
    steps = [(f"CREATE UNIQUE INDEX {table}_profile ON {table} (profile_id)", False)]
    return steps + ([(f"ANALYZE {table}", False)] if _postgresql() else [])


def measures_table_fill(table: str, columns: list[tuple[str, str]], select: str) -> list[Step]:
    """Return the steps creating ``table`` (profile_id, then ``columns``) from ``select``.

    ``columns`` are (name, "count" or "sum"). On PostgreSQL the grouped scan may use more memory
    for this one statement (so it groups in memory) and CREATE TABLE AS may scan in parallel;
    on SQLite the columns are declared, so that it compares the values as numbers.
    """
    names = ", ".join(name for name, _measure in columns)
    if _postgresql():
        return [
            (query_memory(), False),
            (f"DROP TABLE IF EXISTS {table}", False),
            (
                f"CREATE TEMP TABLE {table} (profile_id, {names}) AS SELECT * FROM ({select}) m",
                True,
            ),
            *_indexed(table),
        ]
    types = ", ".join(
        f"{name} {'bigint' if measure == 'count' else 'numeric(20, 2)'}"
        for name, measure in columns
    )
    return [
        (f"DROP TABLE IF EXISTS {table}", False),
        (f"CREATE TEMP TABLE {table} (profile_id bigint NOT NULL, {types})", False),
        (f"INSERT INTO {table} (profile_id, {names}) SELECT * FROM ({select}) AS m", True),
        *_indexed(table),
    ]


def ids_table_fill(table: str, select: str) -> list[Step]:
    """Return the steps creating ``table`` (profile_id) from a SELECT of profile ids."""
    if _postgresql():
        create = [(f"CREATE TEMP TABLE {table} (profile_id) AS {select}", True)]
    else:  # declared, so that SQLite compares the ids as numbers
        create = [
            (f"CREATE TEMP TABLE {table} (profile_id bigint NOT NULL)", False),
            (f"INSERT INTO {table} (profile_id) {select}", True),
        ]
    return [(f"DROP TABLE IF EXISTS {table}", False), *create, *_indexed(table)]


def copy_table_fill(table: str, select: str) -> list[Step]:
    """Return the steps creating ``table`` as a copy of what ``select`` returns."""
    steps = [
        (f"DROP TABLE IF EXISTS {table}", False),
        (f"CREATE TEMP TABLE {table} AS {select}", True),
    ]
    return steps + ([(f"ANALYZE {table}", False)] if _postgresql() else [])


# The candidate whose events the query given to ``per_candidate`` reads.
CANDIDATE_ID = "candidate.profile_id"


def lateral_supported() -> bool:
    """Return whether the database joins LATERAL (PostgreSQL does, SQLite does not)."""
    return _postgresql()


def per_candidate(candidates: str, select: str) -> str:
    """Return the SELECT running ``select`` (which reads CANDIDATE_ID) once per row of the
    table ``candidates``: one probe of the events index per candidate, whatever the planner
    would estimate of a join."""
    return f"SELECT m.* FROM {candidates} candidate CROSS JOIN LATERAL ({select}) AS m"


def table_drop(table: str) -> str:
    """Return the statement dropping a temporary table if it exists."""
    return f"DROP TABLE IF EXISTS {table}"


# Reads of those shared tables inside a rule's query (``segments.compiler``, as RawSQL
# subqueries). Table and column names come from the plan, operators from SQL_OPERATORS, values
# are always parameters: nothing of a rule's text reaches the SQL.
SQL_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def comparison(column: str, op: str, operand) -> tuple[str, list]:
    """Return the test comparing a shared table's ``column`` with the operand, and its
    parameters (``op`` a key of SQL_OPERATORS, or "between" with a (low, high) operand)."""
    if op == "between":
        low, high = operand
        return f"{column} >= %s AND {column} <= %s", [low, high]
    return f"{column} {SQL_OPERATORS[op]} %s", [operand]


def shared_ids_as_profiles(table: str) -> str:
    """Return the SELECT of the ids of a narrow copy of the profiles (its ``id`` column)."""
    return f"SELECT id FROM {table}"


def shared_ids(table: str, where: str = "") -> str:
    """Return the SELECT of the profile ids of a shared table, those meeting ``where`` if given."""
    return f"SELECT profile_id FROM {table}" + (f" WHERE {where}" if where else "")


# What the database expects a query to return (``segments.compiler.planning``).


def rows_estimate(select: str, params, *, cap: int) -> float:
    """Return how many rows ``select`` returns, as the database estimates it.

    PostgreSQL: the planner's row estimate of the statement (``EXPLAIN``, from its statistics:
    ``pg_stats`` of each column, tag carriers included, and ``pg_class``), nothing is run.
    SQLite keeps no statistics unless ANALYZE is run, so it counts, up to ``cap`` rows.
    """
    with connection.cursor() as cursor:
        if _postgresql():
            cursor.execute(f"EXPLAIN (FORMAT JSON) {select}", params)
            (document,) = cursor.fetchone()
            if isinstance(document, str):
                document = json.loads(document)
            return float(document[0]["Plan"]["Plan Rows"])
        cursor.execute(f"SELECT COUNT(*) FROM ({select} LIMIT {int(cap)}) AS counted", params)
        return float(cursor.fetchone()[0])


def hash_memory() -> float | None:
    """Return the bytes one hash table of a query may use, or None for no such limit.

    PostgreSQL hashes a subquery's rows only if they fit in ``work_mem`` (QUERY_WORK_MEM, which
    a rule's query runs with) times ``hash_mem_multiplier``, else it scans them again for every
    row; SQLite indexes any.
    """
    if not _postgresql():
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_bytes(%s) * current_setting('hash_mem_multiplier')::float",
            [QUERY_WORK_MEM],
        )
        return float(cursor.fetchone()[0])


def grouping_sets_supported() -> bool:
    """Return whether the database groups by several sets in one query (PostgreSQL)."""
    return _postgresql()


def profile_columns_grouped(columns: dict[str, str], *, segment_id: int | None) -> tuple[str, list]:
    """Return one SELECT counting profiles by each of ``columns`` apart (GROUPING SETS).

    ``columns`` maps a key to a SQL expression over the profile table ``p`` without parameters
    (the same text must appear in the SELECT list and in the grouping sets). Each row is
    (grouping bits, the value of each expression, count): the expression a row counts by has
    its bit 0, the others 1. With ``segment_id``, only the segment's members are counted.
    """
    q = connection.ops.quote_name
    profile = q(Profile._meta.db_table)
    membership = q(SegmentMembership._meta.db_table)
    expressions = list(columns.values())
    join, params = "", []
    if segment_id is not None:
        join = f" JOIN {membership} m ON m.profile_id = p.id AND m.segment_id = %s"
        params = [segment_id]
    sets = ", ".join(f"({expression})" for expression in expressions)
    sql = (
        f"SELECT GROUPING({', '.join(expressions)}), {', '.join(expressions)}, COUNT(*)"
        f" FROM {profile} p{join} GROUP BY GROUPING SETS ({sets})"
    )
    return sql, params
