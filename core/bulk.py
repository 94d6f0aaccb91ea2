"""Write many rows fast: COPY on PostgreSQL, one executemany per batch elsewhere.

``copy_rows`` and ``copy_bytes`` are the one COPY path of the project (imports, the demo seed,
the benchmarks); the statements themselves are in ``core.sql``.
"""

import csv
import datetime
import decimal
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.management.color import no_style
from django.db import connection, models
from django.utils import timezone

from core import sql


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """COPY ``rows`` (tuples of Python values, None for NULL) into ``table`` (PostgreSQL)."""
    with cursor.cursor.copy(sql.copy_from_stdin(table, columns)) as copy:
        for row in rows:
            copy.write_row(row)


def copy_bytes(
    cursor,
    table: str,
    columns: Sequence[str],
    blocks: Iterable[bytes],
    *,
    csv: bool = False,
    header: bool = False,
    force_null: Sequence[str] = (),
) -> None:
    """COPY text given as blocks of UTF-8 bytes (COPY text format, or CSV) into ``table``.

    PostgreSQL only; ``columns`` empty means all of them, in table order.
    """
    statement = sql.copy_from_stdin(table, columns, csv=csv, header=header, force_null=force_null)
    with cursor.cursor.copy(statement) as copy:
        for block in blocks:
            copy.write(block)


def copy_out(cursor, table: str) -> Iterable[bytes]:
    """Yield ``table`` in COPY text format, block by block (PostgreSQL)."""
    with cursor.cursor.copy(sql.copy_to_stdout(table)) as copy:
        yield from copy


@dataclass(frozen=True)
class CsvRows:
    """Rows formatted as CSV for ``copy_bytes(…, csv=True)``, every value quoted.

    Quoted, "" is empty text and never NULL; None is written as "" too, so columns that may
    hold NULL must be listed in ``force_null``. Formatting is done once, by whoever makes it.
    """

    count: int
    payload: bytes

    @classmethod
    def of(cls, rows: Sequence[tuple]) -> "CsvRows":
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
        return cls(count=len(rows), payload=buffer.getvalue().encode())

    def __len__(self) -> int:
        return self.count


def _adapter(field: models.Field, vendor: str):
    """Return a function turning a Python value into what the driver takes for ``field``."""
    if isinstance(field, models.JSONField):
        return lambda v: None if v is None else json.dumps(v, ensure_ascii=False)
    if vendor == "postgresql":
        return None  # psycopg adapts dates, datetimes, decimals and strings itself
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        return lambda v: ops.adapt_datetimefield_value(v) if isinstance(v, datetime.datetime) else v
    if isinstance(field, models.DateField):
        return lambda v: ops.adapt_datefield_value(v) if isinstance(v, datetime.date) else v
    if isinstance(field, models.DecimalField):
        return lambda v: str(v) if isinstance(v, decimal.Decimal) else v
    return None


def column_defaults(model: type[models.Model], exclude: set[str]) -> list[tuple]:
    """Return (field, value) for the columns a raw INSERT must fill that ``exclude`` leaves out.

    Fields with a default get it, auto_now(_add) fields get now; nullable ones stay NULL.
    """
    now = timezone.now()
    found = []
    for field in model._meta.concrete_fields:
        if field.attname in exclude or field.primary_key:
            continue
        if field.has_default():
            found.append((field, field.get_default()))
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            found.append((field, now))
    return found


class BulkWriter:
    """Buffer rows for one table and write them in batches.

    Rows are tuples in the order of ``fields`` (model attribute names; foreign keys by their
    ``_id`` column name). Use as a context manager so the last batch is flushed.
    """

    def __init__(self, model: type[models.Model], fields: Sequence[str], batch_size: int = 20000):
        self.model = model
        self.vendor = connection.vendor
        meta = model._meta
        self.fields = [meta.get_field(name) for name in fields]  # attnames such as profile_id work
        defaults = column_defaults(model, exclude={f.attname for f in self.fields})
        self.fields.extend(field for field, _value in defaults)
        self.constants: tuple = tuple(value for _field, value in defaults)
        self.columns = [f.column for f in self.fields]
        self.adapters = [
            (i, a) for i, f in enumerate(self.fields) if (a := _adapter(f, self.vendor))
        ]
        self.batch_size = batch_size
        self.buffer: list[tuple] = []
        self.written = 0

    def add(self, row: tuple) -> None:
        self.buffer.append(row + self.constants if self.constants else row)
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def extend(self, rows: Iterable[tuple]) -> None:
        for row in rows:
            self.add(row)

    def flush(self) -> None:
        if not self.buffer:
            return
        rows = self.buffer
        if self.adapters:
            rows = [self._adapt(row) for row in rows]
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                copy_rows(cursor, table, self.columns, rows)
            else:
                cursor.executemany(sql.insert_values(table, self.columns), rows)
        self.written += len(rows)
        self.buffer = []

    def _adapt(self, row: tuple) -> tuple:
        values = list(row)
        for index, adapt in self.adapters:
            values[index] = adapt(values[index])
        return tuple(values)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.flush()


def reset_sequences(*models_: type[models.Model]) -> None:
    """Move the id sequences of ``models_`` past the largest id (after explicit-id inserts)."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models_))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def pk_chunks(queryset: models.QuerySet, size: int):
    """Yield (chunk, full) slices of ``queryset`` by primary-key range, in key order.

    Each chunk holds at most ``size`` rows; ``full`` says it holds exactly ``size`` (the last
    chunk may hold fewer). Bounds come from keyset pages, so no OFFSET scan and no id list in
    memory: set-based writes over millions of rows go chunk by chunk.
    """
    ids = queryset.order_by("pk").values_list("pk", flat=True)
    after = None
    while True:
        rest = queryset if after is None else queryset.filter(pk__gt=after)
        page = ids if after is None else ids.filter(pk__gt=after)
        last = next(iter(page[size - 1 : size]), None)
        if last is None:
            yield rest, False
            return
        yield rest.filter(pk__lte=last), True
        after = last
