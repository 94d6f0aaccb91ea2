"""Hooks of journeys for the apps above: profiles moved to another stage.

``journeys.services.stages_refresh`` calls ``stage_changed_notify`` with the number of moves
when a refresh wrote stage transitions. The receiver gets that count only; who moved where
reads from ``StageTransition`` (its ids increase, so a cursor of the last id handled finds the
new ones). An app above registers from its ``AppConfig.ready()``::

    from journeys.hooks import stage_changed_register

    stage_changed_register(on_stage_changed)  # on_stage_changed(moved: int) -> None

It runs once the refresh's transaction has committed (``core.hooks``), never after a rollback;
a receiver that raises is logged and the refresh's result stands.
"""

from collections.abc import Callable
from typing import Any

from core.hooks import Hook

StageReceiver = Callable[[int], Any]

STAGE_CHANGED = Hook("journeys.stage_changed")


def stage_changed_register(receiver: StageReceiver) -> StageReceiver:
    """Call ``receiver(moved)`` after each committed refresh that moved profiles."""
    return STAGE_CHANGED.register(receiver)


def stage_changed_unregister(receiver: StageReceiver) -> None:
    """Stop calling ``receiver`` (tests, mostly)."""
    STAGE_CHANGED.unregister(receiver)


def stage_changed_notify(moved: int) -> None:
    """Pass ``moved`` (how many transitions were written) to the receivers on commit."""
    STAGE_CHANGED.notify(moved)
