"""Write batches of cleaned rows, each in its own transaction, through ``profiles.sql``.

By default a batch is written by the calling thread, on its connection: what the API and every
web request use. The import commands and the import job may pass ``lanes``: on PostgreSQL each
lane is then a thread with its own connection that writes while the calling thread cleans the
next batch (see ``BatchWriter``).
"""

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection, transaction

from profiles import sql

_TRAITS_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


# What a field left out of a row is written as: blank text, or NULL (both keep what is stored).
_ABSENT = tuple((name, "" if name in sql.TEXT_FIELDS else None) for name in sql.PROFILE_FIELDS)


def profile_row(external_id: str, clean: dict) -> tuple:
    """Return a cleaned profile as a row of ``profiles.sql.PROFILE_COLUMNS``."""
    get = clean.get
    return (
        external_id,
        *[get(name, absent) for name, absent in _ABSENT],
        _TRAITS_JSON(clean["traits"]),
    )


def event_row(clean: dict, key: str) -> tuple:
    """Return a cleaned event as a row of ``profiles.sql.EVENT_COLUMNS``."""
    return (
        clean["external_id"], clean["name"], clean["channel"], clean["occurred_at"],
        clean["amount"], clean["properties_json"], key,
    )  # fmt: skip


class BatchWriter:
    """Write batches one after another and add up the two counts each write returns.

    A batch is given as one part per lane (a list of rows, maybe empty); lane i always
    writes the parts numbered i, in the order given, so a caller that sends every row with the
    same key to the same lane keeps "first occurrence wins". With ``lanes=0`` (the default),
    inside a transaction, or on databases other than PostgreSQL there is one lane and batches
    are written inline, in this thread and connection.
    """

    def __init__(self, write: Callable[..., tuple[int, int]], *, lanes: int = 0):
        self.write = write
        self.totals = [0, 0]
        self.pending: list[Future] = []
        background = (
            lanes > 0 and connection.vendor == "postgresql" and not connection.in_atomic_block
        )
        self.lanes = lanes if background else 1
        self.executors = [
            ThreadPoolExecutor(max_workers=1) for _ in range(lanes if background else 0)
        ]

    def _run(self, part) -> tuple[int, int]:
        if part is None:
            return 0, 0
        with transaction.atomic():
            return self.write(part)

    def _add(self, counts: tuple[int, int]) -> None:
        self.totals[0] += counts[0]
        self.totals[1] += counts[1]

    def _collect(self) -> None:
        pending, self.pending = self.pending, []
        error = None
        for future in pending:  # wait for every lane, then raise the first error
            try:
                self._add(future.result())
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def drain(self) -> None:
        """Wait until the batches in flight are written (raise the first error of a lane)."""
        self._collect()

    def submit(self, *parts: list) -> None:
        """Write a batch given as one part per lane, prepared by ``profiles.sql.batch_prepare``."""
        if len(parts) != self.lanes:
            raise ValueError(f"{len(parts)} parts for {self.lanes} lane(s)")
        prepared = [sql.batch_prepare(part) if part else None for part in parts]
        if not self.executors:
            self._add(self._run(prepared[0]))
            return
        self._collect()  # at most one batch in flight: memory stays bounded
        self.pending = [
            executor.submit(self._run, part)
            for executor, part in zip(self.executors, prepared, strict=True)
        ]

    def close(self) -> tuple[int, int]:
        """Wait for the lanes, close their connections and return the two totals."""
        try:
            self._collect()
        finally:
            for executor in self.executors:
                executor.submit(lambda: connection.close()).result()  # looked up in the lane
                executor.shutdown()
            self.executors = []
        return self.totals[0], self.totals[1]
