"""Hooks: receivers that apps above register in ``ready()``, called once a write has committed.

A lower app cannot import the apps above it, so it offers a ``Hook`` that they register a
function into; the lower app then calls ``notify`` where it writes, inside its transaction::

    EVENTS_INGESTED = Hook("profiles.events_ingested")
    EVENTS_INGESTED.register(fn)            # from the app above's ready()
    EVENTS_INGESTED.notify(records)         # after the rows are written, in the transaction

Receivers run through ``transaction.on_commit``: after the transaction commits, never after a
rollback, in the thread that committed. A receiver that raises is logged and the next one still
runs; the write it follows is already committed and stays so. With no receiver, ``notify`` does
nothing, and ``active`` lets a caller skip building what it would pass. Receivers should be
quick (queue a task): they run inside the request, command or worker that wrote.
"""

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)


class Hook:
    """A named list of receivers, called with the same arguments once a transaction commits."""

    def __init__(self, name: str):
        self.name = name
        self._receivers: list[Callable] = []

    def register(self, receiver: Callable) -> Callable:
        """Add ``receiver`` (once; registering it again changes nothing) and return it."""
        if not callable(receiver):
            raise TypeError(f"A receiver of {self.name} must be callable, not {receiver!r}.")
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def unregister(self, receiver: Callable) -> None:
        """Remove ``receiver`` if it is registered."""
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    @property
    def active(self) -> bool:
        """Return whether any receiver is registered (else ``notify`` would do nothing)."""
        return bool(self._receivers)

    def notify(self, *args) -> None:
        """Call every receiver with ``args`` once the current transaction commits."""
        if self._receivers:
            transaction.on_commit(partial(self._call, args))

    def _call(self, args: tuple) -> None:
        for receiver in list(self._receivers):
            try:
                receiver(*args)
            except Exception:
                logger.exception("A receiver of %s failed: %r", self.name, receiver)
