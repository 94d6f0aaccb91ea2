"""Channel fixtures: the loopback WeChat/WeCom API and a cache shared between processes."""

import uuid

import pytest

from tests.fakes.wechat import FakeWeixin


@pytest.fixture
def weixin(settings):
    """The fake WeChat and WeCom API, with the settings pointing at it and its credentials."""
    fake = FakeWeixin()
    settings.WECHAT_API_URL = settings.WECOM_API_URL = fake.url
    settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET = fake.app_id, fake.app_secret
    settings.WECOM_CORP_ID, settings.WECOM_SECRET = fake.corp_id, fake.corp_secret
    settings.WECOM_SENDER = "zhangsan"
    settings.WEIXIN_TIMEOUT = 2
    yield fake
    fake.stop()


@pytest.fixture
def shared_cache(settings, tmp_path):
    """Use a cache that processes share: Redis when the broker is Redis, else files."""
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": settings.CELERY_BROKER_URL,
                "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
            }
        }
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    return settings.CACHES["default"]["BACKEND"]  # (not cleared after: Redis would flush the db)
