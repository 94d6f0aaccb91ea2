"""Pacing: one rate limit per channel shared by every worker, in Redis or in the database.

Two workers are simulated in one thread, each with its own clock (advanced by its own sleeps
and the time its messages take), acting in the order of their clocks as concurrent processes
would; their pacers share one real store (the database, or Redis when the broker is Redis).
"""

import uuid

import pytest
from django.conf import settings

from campaigns.delivery.pacing import DatabaseSlots, Pacer, RedisSlots, channel_pacer, slots_store

LIMIT = 100  # messages per second, for both workers together
MESSAGES = 360  # 3.6 s worth at the limit
WORK = 0.001  # seconds each message takes a worker besides waiting


class Worker:
    """A simulated worker: its own clock, a pacer on the shared store, the times it sent at."""

    def __init__(self, store, channel: str, *, pause_every: int = 0):
        self.now = 1_000_000.0
        self.sent: list[float] = []
        self.pause_every = pause_every
        self.pacer = Pacer(
            channel=channel, rate=LIMIT, store=store, clock=lambda: self.now, sleep=self.sleep
        )

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def send_one(self) -> None:
        self.pacer.wait()
        self.sent.append(self.now)
        self.now += WORK
        if self.pause_every and len(self.sent) % self.pause_every == 0:
            self.now += 0.3  # claiming or recording: the slots it held meanwhile are missed


def run_two_workers(store) -> list[Worker]:
    channel = f"t{uuid.uuid4().hex[:8]}"  # a channel of its own (10 characters at most)
    workers = [Worker(store, channel), Worker(store, channel, pause_every=40)]
    for _message in range(MESSAGES):
        min(workers, key=lambda worker: worker.now).send_one()  # the one whose turn it is
    return workers


def assert_within_the_limit(workers: list[Worker]) -> None:
    times = sorted(t for worker in workers for t in worker.sent)
    busiest = max(
        sum(1 for other in times[index:] if other < start + 1.0)
        for index, start in enumerate(times)
    )
    assert busiest <= LIMIT + 1  # any one second holds at most the limit (+1: its edges)
    elapsed = times[-1] - times[0]
    assert elapsed >= (MESSAGES - LIMIT - 1) / LIMIT
    assert elapsed <= MESSAGES / LIMIT * 1.15  # the limit is used, not wasted
    assert all(len(worker.sent) >= MESSAGES // 4 for worker in workers)  # both send
    for worker in workers:  # no burst: a worker never sends missed slots back to back
        gaps = [b - a for a, b in zip(worker.sent, worker.sent[1:], strict=False)]
        assert min(gaps) >= 1 / LIMIT * 0.99


@pytest.mark.django_db
def test_two_workers_sharing_the_database_slots_stay_within_the_limit():
    workers = run_two_workers(DatabaseSlots())

    assert_within_the_limit(workers)


def redis_slots() -> RedisSlots:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        pytest.skip("the broker is not Redis (CELERY_BROKER_URL=redis://… runs this test)")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    return RedisSlots(url)


def test_two_workers_sharing_the_redis_slots_stay_within_the_limit():
    store = redis_slots()

    workers = run_two_workers(store)

    assert_within_the_limit(workers)


def test_the_store_is_redis_when_the_broker_is(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/1"
    assert isinstance(slots_store(), RedisSlots)
    settings.CELERY_BROKER_URL = "filesystem://"
    assert isinstance(slots_store(), DatabaseSlots)


def test_without_a_limit_the_pacer_never_waits_nor_asks_a_store(settings):
    settings.CAMPAIGN_RATE_LIMIT_EMAIL = 0
    pacer = channel_pacer(channel="email")
    slept = []
    pacer.sleep = slept.append

    for _message in range(1000):
        pacer.wait()

    assert pacer.store is None
    assert slept == []
