"""One celery beat per deployment: the scheduler sends tasks only while it holds a lock.

The lock is a key in the shared cache (files under var/ on one machine, Redis when CACHE_URL names
it) with a time to live, refreshed at every tick. A second beat logs a warning at start, sends
nothing, and takes over once the first stops (at once) or dies (within LOCK_SECONDS); it also
leaves its name where the first one sees it and logs a warning too.
"""

import logging
import os
import socket
import uuid

from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)

LOCK_KEY = "core:beat:lock"
RIVAL_KEY = "core:beat:rival"
LOCK_SECONDS = 60
REFRESH_SECONDS = 15.0  # the longest sleep between ticks, so the lock is refreshed in time
WAIT_SECONDS = 5.0  # how often a waiting beat tries the lock again
WARNING_SECOND_BEAT = (
    "Another celery beat (%s) already runs for this deployment; this one (%s) sends no tasks "
    "and takes over when that one stops. Run one beat per deployment."
)
WARNING_RIVAL = (
    "A second celery beat (%s) started for this deployment; this one (%s) keeps sending."
)


def _cache():
    from django.core.cache import cache

    return cache


class SingletonScheduler(PersistentScheduler):
    """A persistent beat scheduler that ticks only while it holds the deployment's beat lock."""

    def __init__(self, *args, **kwargs):
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.holding = None  # unknown until the first tick
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        if not self.hold_lock():
            return WAIT_SECONDS
        return min(super().tick(*args, **kwargs), REFRESH_SECONDS)

    def hold_lock(self) -> bool:
        """Take or refresh the lock; log when this beat starts or stops holding it."""
        cache = _cache()
        holder = cache.get(LOCK_KEY)
        held = (holder == self.token and cache.touch(LOCK_KEY, LOCK_SECONDS)) or (
            cache.add(LOCK_KEY, self.token, LOCK_SECONDS)
        )
        if held:
            if self.holding is not True:
                logger.info("celery beat %s holds the beat lock and sends tasks.", self.token)
            rival = cache.get(RIVAL_KEY)
            if rival:
                cache.delete(RIVAL_KEY)
                logger.warning(WARNING_RIVAL, rival, self.token)
        elif self.holding is not False:
            logger.warning(WARNING_SECOND_BEAT, holder or cache.get(LOCK_KEY), self.token)
            cache.set(RIVAL_KEY, self.token, LOCK_SECONDS)
        self.holding = bool(held)
        return self.holding

    def close(self):
        """Release the lock when this beat holds it, so a restarted beat need not wait."""
        try:
            cache = _cache()
            if cache.get(LOCK_KEY) == self.token:
                cache.delete(LOCK_KEY)
        finally:
            super().close()
