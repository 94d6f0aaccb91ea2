"""Hooks of segments for the apps above: a segment's membership changed.

``segments.membership.membership_version_write`` (dynamic evaluation and static lists alike)
calls ``segment_changed_notify`` when a new version lets profiles enter or leave. The receiver
gets the segment's id only; who entered and left it reads from ``SegmentTransition`` (its ids
increase, so a cursor of the last id handled finds the new ones). An app above registers from
its ``AppConfig.ready()``::

    from segments.hooks import segment_changed_register

    segment_changed_register(on_segment_changed)  # on_segment_changed(segment_id: int) -> None

It runs once the transaction writing the transitions has committed (``core.hooks``), never
after a rollback; a receiver that raises is logged and the evaluation's result stands.
"""

from collections.abc import Callable
from typing import Any

from core.hooks import Hook

SegmentReceiver = Callable[[int], Any]

SEGMENT_CHANGED = Hook("segments.segment_changed")


def segment_changed_register(receiver: SegmentReceiver) -> SegmentReceiver:
    """Call ``receiver(segment_id)`` after each committed membership change of a segment."""
    return SEGMENT_CHANGED.register(receiver)


def segment_changed_unregister(receiver: SegmentReceiver) -> None:
    """Stop calling ``receiver`` (tests, mostly)."""
    SEGMENT_CHANGED.unregister(receiver)


def segment_changed_notify(segment_id: int) -> None:
    """Pass ``segment_id`` to the receivers once the current transaction commits."""
    SEGMENT_CHANGED.notify(segment_id)
