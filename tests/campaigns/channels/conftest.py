"""Channel fixtures: fake SMS providers (Aliyun, Tencent Cloud) and the WeChat/WeCom API on
loopback with the settings that send to them, and a cache shared between processes."""

import uuid

import pytest

from tests.fakes.wechat import FakeWeixin
from tools.fakes import aliyun_sms, tencent_sms


@pytest.fixture
def aliyun(settings):
    """A fake Aliyun SMS endpoint; SMS_BACKEND and the SMS_ALIYUN_* settings point at it."""
    fake = aliyun_sms.FakeAliyunSms(stall_seconds=1.5).start()
    settings.SMS_BACKEND = "campaigns.channels.aliyun_sms.AliyunSmsBackend"
    settings.SMS_ALIYUN_ENDPOINT = fake.url
    settings.SMS_ALIYUN_ACCESS_KEY_ID = aliyun_sms.ACCESS_KEY_ID
    settings.SMS_ALIYUN_ACCESS_KEY_SECRET = aliyun_sms.ACCESS_KEY_SECRET
    settings.SMS_ALIYUN_SIGN_NAME = aliyun_sms.SIGN_NAME
    settings.SMS_PROVIDER_TIMEOUT = 1
    settings.SMS_TEMPLATE_CODE = "SMS_100"
    settings.SMS_TEMPLATE_TEXT_PARAM = "content"
    yield fake
    fake.stop()


@pytest.fixture
def tencent(settings):
    """A fake Tencent Cloud SMS endpoint; SMS_BACKEND and SMS_TENCENT_* point at it."""
    fake = tencent_sms.FakeTencentSms(stall_seconds=1.5).start()
    settings.SMS_BACKEND = "campaigns.channels.tencent_sms.TencentSmsBackend"
    settings.SMS_TENCENT_ENDPOINT = fake.url
    settings.SMS_TENCENT_SECRET_ID = tencent_sms.SECRET_ID
    settings.SMS_TENCENT_SECRET_KEY = tencent_sms.SECRET_KEY
    settings.SMS_TENCENT_SDK_APP_ID = tencent_sms.SDK_APP_ID
    settings.SMS_TENCENT_SIGN_NAME = tencent_sms.SIGN_NAME
    settings.SMS_PROVIDER_TIMEOUT = 1
    settings.SMS_TEMPLATE_CODE = "1110"
    yield fake
    fake.stop()


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
