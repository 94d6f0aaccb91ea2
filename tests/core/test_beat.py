"""One celery beat per deployment: a second beat waits, says so, and takes over when it may."""

import time

import pytest
from celery import Celery
from django.core.cache import cache

from core import beat


@pytest.fixture
def beat_app():
    app = Celery("beat-test", broker="memory://", set_as_current=False)
    app.conf.beat_schedule = {"ping": {"task": "beat-test.ping", "schedule": 0.5}}
    return app


def _scheduler(app, tmp_path, name):
    return beat.SingletonScheduler(app=app, schedule_filename=str(tmp_path / name))


def _run_count(scheduler):
    return scheduler.schedule["ping"].total_run_count


def test_a_second_beat_warns_and_sends_nothing(beat_app, tmp_path, caplog):
    first = _scheduler(beat_app, tmp_path, "first")
    second = _scheduler(beat_app, tmp_path, "second")
    first.tick()

    time.sleep(0.6)
    assert second.tick() == beat.WAIT_SECONDS
    first.tick()

    assert _run_count(first) == 1
    assert _run_count(second) == 0
    assert f"Another celery beat ({first.token}) already runs" in caplog.text
    assert f"A second celery beat ({second.token}) started" in caplog.text
    first.close()
    second.close()


def test_the_second_beat_takes_over_when_the_first_stops(beat_app, tmp_path):
    first = _scheduler(beat_app, tmp_path, "first")
    second = _scheduler(beat_app, tmp_path, "second")
    first.tick()
    second.tick()

    first.close()
    time.sleep(0.6)
    second.tick()

    assert second.holding is True
    assert cache.get(beat.LOCK_KEY) == second.token
    assert _run_count(second) == 1
    second.close()


def test_the_second_beat_takes_over_when_the_lock_of_a_dead_first_expires(beat_app, tmp_path):
    first = _scheduler(beat_app, tmp_path, "first")
    second = _scheduler(beat_app, tmp_path, "second")
    first.tick()  # then it dies without closing
    assert second.hold_lock() is False

    cache.delete(beat.LOCK_KEY)  # what the time to live does LOCK_SECONDS after the last tick

    assert second.hold_lock() is True
    assert first.hold_lock() is False
    second.close()


def test_a_beat_refreshes_its_lock_at_least_every_refresh_interval(beat_app, tmp_path):
    scheduler = _scheduler(beat_app, tmp_path, "only")

    interval = scheduler.tick()

    assert 0 < interval <= beat.REFRESH_SECONDS < beat.LOCK_SECONDS
    scheduler.close()
    assert cache.get(beat.LOCK_KEY) is None
