"""With CACHE_URL on Redis, the dashboard cache is one for every process, on any machine."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings as django_settings

from journeys.selectors import dashboard_data, dashboard_refresh
from tests.conftest import ROOT, database_url
from tests.factories import ProfileFactory

# Another process, in a working directory and VAR_DIR of its own, refreshes or reads the cache.
OTHER = """
import json, sys
import django
django.setup()
from journeys.selectors import dashboard_data, dashboard_refresh
if sys.argv[1] == "refresh":
    dashboard_refresh(force=True)
print(json.dumps(dashboard_data()["totals"]))
"""


@pytest.fixture
def redis_cache_url(settings):
    """Point this process's cache at Redis under a prefix of this test; return its CACHE_URL."""
    url = django_settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        pytest.skip("the broker is not Redis (CELERY_BROKER_URL=redis://… runs this test)")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }
    yield f"{url}?KEY_PREFIX={prefix}"
    from django.core.cache import cache

    cache.clear()


def other_process(action: str, cache_url: str, tmp_path) -> dict:
    machine = tmp_path / f"machine-{uuid.uuid4().hex[:6]}"
    machine.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "CACHE_URL": cache_url,
        "VAR_DIR": str(machine / "var"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", OTHER, action],
        cwd=machine,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_another_process_serves_the_blocks_this_one_cached(
    transactional_db, redis_cache_url, tmp_path
):
    ProfileFactory.create_batch(2)
    dashboard_refresh(force=True)
    ProfileFactory.create_batch(3)  # not refreshed yet: the cache still says 2

    seen = other_process("read", redis_cache_url, tmp_path)

    assert seen["total"] == 2


def test_this_process_serves_the_blocks_another_one_refreshed(
    transactional_db, redis_cache_url, tmp_path
):
    ProfileFactory.create_batch(2)
    assert dashboard_data()["totals"]["total"] == 2
    ProfileFactory.create_batch(3)

    refreshed = other_process("refresh", redis_cache_url, tmp_path)

    assert refreshed["total"] == 5
    assert dashboard_data()["totals"]["total"] == 5
