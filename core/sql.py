"""The database-specific statements of core: COPY on PostgreSQL, INSERT elsewhere, and the SELECT
of a queryset to embed in a larger statement."""

from collections.abc import Sequence

from django.db import connection


def ping() -> int:
    """Run the trivial query ``SELECT 1`` and return its 1; raises when the database is down."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def quote(name: str) -> str:
    """Return ``name`` quoted as an identifier for the current database."""
    return connection.ops.quote_name(name)


def copy_from_stdin(
    table: str,
    columns: Sequence[str] = (),
    *,
    csv: bool = False,
    header: bool = False,
    force_null: Sequence[str] = (),
) -> str:
    """Return ``COPY table (columns) FROM STDIN`` (PostgreSQL) in text or CSV format.

    ``force_null`` lists CSV columns whose empty quoted values ("") are read as NULL.
    """
    target = quote(table) + (f" ({', '.join(quote(c) for c in columns)})" if columns else "")
    options = []
    if csv:
        options.append("FORMAT csv")
    if header:
        options.append("HEADER")
    if force_null:
        options.append(f"FORCE_NULL ({', '.join(quote(c) for c in force_null)})")
    return f"COPY {target} FROM STDIN" + (f" ({', '.join(options)})" if options else "")


def copy_to_stdout(table: str) -> str:
    """Return ``COPY table TO STDOUT`` (PostgreSQL, text format)."""
    return f"COPY {quote(table)} TO STDOUT"


def insert_values(table: str, columns: Sequence[str], conflict: str = "") -> str:
    """Return an ``INSERT … VALUES (%s, …)`` for executemany, with an optional ON CONFLICT."""
    marks = ", ".join(["%s"] * len(columns))
    column_list = ", ".join(quote(c) for c in columns)
    tail = f" ON CONFLICT {conflict}" if conflict else ""
    return f"INSERT INTO {quote(table)} ({column_list}) VALUES ({marks}){tail}"


def stage_table(name: str, columns: str) -> list[str]:
    """Return the statements that make an empty temporary table ``name`` (PostgreSQL).

    The table lives as long as the connection and is emptied at each commit; emptying it now
    as well matters inside a caller's transaction, where no commit came in between.
    """
    return [
        f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS",
        f"DELETE FROM {name}",
    ]


def select_sql(queryset) -> tuple[str, tuple]:
    """Return the SELECT of ``queryset`` and its parameters, to run inside a larger statement.

    Django has no public API that returns a queryset's SQL with its parameters kept apart
    (``str(queryset.query)`` interpolates them, unsafely and wrongly quoted), and INSERT … SELECT
    and CREATE TABLE … AS have no ORM form; ``Query.sql_with_params()`` is what Django itself uses
    for subqueries. The behaviour relied on (the SQL runs as is and selects what the queryset
    does, in the order of its ``values``) is pinned by
    ``tests/core/test_sql.py::test_select_sql_selects_what_the_queryset_does``.
    """
    return queryset.query.sql_with_params()
