"""Pacing: a rate limit per channel shared by every worker (CAMPAIGN_RATE_LIMIT_<CHANNEL>).

The workers share one schedule of send slots per channel, ``1 / limit`` seconds apart: the
store keeps the time of the next free slot, and a worker reserves a few consecutive slots at a
time (about a twentieth of a second's worth) by moving it on. Whatever the number of workers,
no two use the same slot, so together they send at most ``limit`` messages per second. A
worker waits for each of its slots and drops those it missed (it was busy claiming or
recording) rather than catching up with a burst. The store is Redis when the Celery broker is
(one small Lua script, atomic on the server), the database otherwise (one row per channel,
moved on by compare-and-set). Slot times are the workers' wall clocks, kept in step by NTP.
"""

import functools
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from campaigns.channels import channel_get
from campaigns.models import RateSlot

# Redis: the next free slot of a channel, in microseconds since the epoch; the reserved one
# is returned. The key expires once idle a minute.
_RESERVE = """
local now = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
redis.call('SET', KEYS[1], slot + span, 'PX', 60000 + math.ceil(span / 1000))
return slot
"""


class RedisSlots:
    """The next free slot of each channel, in Redis (``campaigns:rate:<channel>``)."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_RESERVE)

    def reserve(self, channel: str, *, now_us: int, span_us: int) -> int:
        """Reserve ``span_us`` of slots from the next free one (at ``now_us`` at the earliest);
        return where the reservation starts."""
        return int(self.script(keys=[f"campaigns:rate:{channel}"], args=[now_us, span_us]))


class DatabaseSlots:
    """The next free slot of each channel, in the database (``RateSlot``, compare-and-set)."""

    def reserve(self, channel: str, *, now_us: int, span_us: int) -> int:
        """As ``RedisSlots.reserve``: read the row, move it on only if nobody did meanwhile."""
        while True:
            current = RateSlot.objects.filter(channel=channel).values_list("next_us", flat=True)
            found = current.first()
            if found is None:
                with transaction.atomic():
                    _row, created = RateSlot.objects.get_or_create(
                        channel=channel, defaults={"next_us": now_us + span_us}
                    )
                if created:
                    return now_us
                continue
            start = max(found, now_us)
            moved = RateSlot.objects.filter(channel=channel, next_us=found).update(
                next_us=start + span_us
            )
            if moved:
                return start


@functools.cache
def _redis_slots(url: str) -> RedisSlots:
    return RedisSlots(url)


def slots_store() -> RedisSlots | DatabaseSlots:
    """Return the shared store: Redis when the Celery broker is, else the database."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return _redis_slots(url)
    return DatabaseSlots()


class Pacer:
    """Keep the sends of one channel, with every other worker's, to ``rate`` per second."""

    def __init__(
        self,
        *,
        channel: str,
        rate: float,
        store=None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.channel = channel
        self.interval_us = round(1e6 / rate) if rate > 0 else 0
        self.block = max(1, math.ceil(rate / 20)) if rate > 0 else 0  # slots per reservation
        self.store = store if store is not None or not rate else slots_store()
        self.clock, self.sleep = clock, sleep
        self.next_us = 0  # the next slot this worker holds
        self.left = 0  # slots this worker holds

    def wait(self) -> None:
        """Return when the next message may go (at once when there is no limit)."""
        if not self.interval_us:
            return
        now = round(self.clock() * 1e6)
        if self.left and now >= self.next_us + self.interval_us:  # missed: hold none of them
            self.left = 0
        if not self.left:
            span = self.block * self.interval_us
            self.next_us = self.store.reserve(self.channel, now_us=now, span_us=span)
            self.left = self.block
        if self.next_us > now:
            self.sleep((self.next_us - now) / 1e6)
        self.next_us += self.interval_us
        self.left -= 1


def channel_pacer(*, channel: str) -> Pacer:
    """Return a pacer for ``channel``'s rate limit, shared by all workers (0: no limit)."""
    try:
        limit = channel_get(channel).rate()
    except KeyError:  # a channel no longer installed: its rows fail at the transport
        limit = 0
    return Pacer(channel=channel, rate=limit)
