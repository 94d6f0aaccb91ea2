"""Settings of the channels (``campaigns.channels``): which are offered, and each provider's.

Imported by ``config.settings``; every variable read here has a row in the README's table of
channel settings.
"""

import zoneinfo

from django.core.exceptions import ImproperlyConfigured

from config.env import env, env_bool, env_int

# The channel keys offered for new campaigns and flow steps (empty: every registered channel).
CAMPAIGN_CHANNELS = [key.strip() for key in env.list("CAMPAIGN_CHANNELS", default=[]) if key]
# Modules outside campaigns/channels/ that register channels (e.g. a deployment's own).
CAMPAIGN_CHANNEL_MODULES = env.list("CAMPAIGN_CHANNEL_MODULES", default=[])

# SMS.
# The signature the SMS provider puts in front of every text (counted in its length and parts),
# and the opt-out phrase added to marketing texts that do not end with one (campaigns.sms_text).
SMS_SIGN_NAME = env.str("SMS_SIGN_NAME", default="")
SMS_UNSUBSCRIBE_SUFFIX = env.str("SMS_UNSUBSCRIBE_SUFFIX", default="回T退订")
# Aliyun SMS (campaigns.channels.aliyun_sms.AliyunSmsBackend): an AccessKey pair, an approved
# signature name (by default SMS_SIGN_NAME), the endpoint (a local fake in tests and benchmarks)
# and the region.
SMS_ALIYUN_ACCESS_KEY_ID = env.str("SMS_ALIYUN_ACCESS_KEY_ID", default="")
SMS_ALIYUN_ACCESS_KEY_SECRET = env.str("SMS_ALIYUN_ACCESS_KEY_SECRET", default="")
SMS_ALIYUN_SIGN_NAME = env.str("SMS_ALIYUN_SIGN_NAME", default=SMS_SIGN_NAME)
SMS_ALIYUN_ENDPOINT = env.str("SMS_ALIYUN_ENDPOINT", default="https://dysmsapi.aliyuncs.com/")
SMS_ALIYUN_REGION = env.str("SMS_ALIYUN_REGION", default="cn-hangzhou")
# Tencent Cloud SMS (campaigns.channels.tencent_sms.TencentSmsBackend), likewise, and the
# SmsSdkAppId of the SMS application.
SMS_TENCENT_SECRET_ID = env.str("SMS_TENCENT_SECRET_ID", default="")
SMS_TENCENT_SECRET_KEY = env.str("SMS_TENCENT_SECRET_KEY", default="")
SMS_TENCENT_SDK_APP_ID = env.str("SMS_TENCENT_SDK_APP_ID", default="")
SMS_TENCENT_SIGN_NAME = env.str("SMS_TENCENT_SIGN_NAME", default=SMS_SIGN_NAME)
SMS_TENCENT_ENDPOINT = env.str("SMS_TENCENT_ENDPOINT", default="https://sms.tencentcloudapi.com/")
SMS_TENCENT_REGION = env.str("SMS_TENCENT_REGION", default="ap-guangzhou")
# The approved template a message goes out with when its variant names none: the rendered text
# is then its one parameter, named SMS_TEMPLATE_TEXT_PARAM (campaigns.channels.sms_template).
SMS_TEMPLATE_CODE = env.str("SMS_TEMPLATE_CODE", default="")
SMS_TEMPLATE_TEXT_PARAM = env.str("SMS_TEMPLATE_TEXT_PARAM", default="content")
# Links in SMS texts become short signed redirects on SITE_URL (/s/<code>) counted as clicks.
SMS_SHORT_LINKS = env_bool("SMS_SHORT_LINKS", True)
# Delivery receipts (campaigns.receipts): the token in the callback URL or X-Sms-Receipt-Token,
# how old a report may be, how long a receipt for a message not yet recorded is asked again,
# and the time zone of the providers' report times.
SMS_RECEIPT_TOKEN = env.str("SMS_RECEIPT_TOKEN", default="")
SMS_RECEIPT_MAX_AGE_SECONDS = env_int("SMS_RECEIPT_MAX_AGE_SECONDS", 86400, minimum=60)
SMS_RECEIPT_RETRY_SECONDS = env_int("SMS_RECEIPT_RETRY_SECONDS", 900, minimum=0)
SMS_RECEIPT_TIME_ZONE = env.str("SMS_RECEIPT_TIME_ZONE", default="Asia/Shanghai")
SMS_RECEIPT_RATE_PER_MINUTE = env_int("SMS_RECEIPT_RATE_PER_MINUTE", 1200, minimum=1)
try:
    zoneinfo.ZoneInfo(SMS_RECEIPT_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"SMS_RECEIPT_TIME_ZONE={SMS_RECEIPT_TIME_ZONE!r} is not an IANA time zone."
    ) from None
# App push (campaigns.channels.push): FCM HTTP v1 with a service account, JPush Push API v3.
FCM_SERVICE_ACCOUNT_FILE = env.str("FCM_SERVICE_ACCOUNT_FILE", default="")
FCM_API_URL = env.str("FCM_API_URL", default="https://fcm.googleapis.com")
JPUSH_APP_KEY = env.str("JPUSH_APP_KEY", default="")
JPUSH_MASTER_SECRET = env.str("JPUSH_MASTER_SECRET", default="")
JPUSH_API_URL = env.str("JPUSH_API_URL", default="https://api.jpush.cn")
JPUSH_APNS_PRODUCTION = env_bool("JPUSH_APNS_PRODUCTION", True)
PUSH_TIMEOUT = env_int("PUSH_TIMEOUT", 10, minimum=1)
CAMPAIGN_RATE_LIMIT_PUSH = env_int("CAMPAIGN_RATE_LIMIT_PUSH", 0)

# WeChat Official Account and WeCom channels (campaigns.channels.wechat, .wecom): API base URLs
# (tests point them at a local fake server), credentials, and each account's rate in messages per
# second for all workers together (0: unpaced). WeChat documents a daily quota for template
# messages (100,000 a day for a verified account), not a rate: 45009 answers are retried later.
# WeCom documents 10,000 calls a minute per API and corp; a group bot takes 20 messages a minute.
WECHAT_API_URL = env.str("WECHAT_API_URL", default="https://api.weixin.qq.com").rstrip("/")
WECHAT_APP_ID = env.str("WECHAT_APP_ID", default="")
WECHAT_APP_SECRET = env.str("WECHAT_APP_SECRET", default="")
WECHAT_RATE_PER_SECOND = env_int("WECHAT_RATE_PER_SECOND", 50)
WECOM_API_URL = env.str("WECOM_API_URL", default="https://qyapi.weixin.qq.com").rstrip("/")
WECOM_CORP_ID = env.str("WECOM_CORP_ID", default="")
WECOM_SECRET = env.str("WECOM_SECRET", default="")  # the customer contact (客户联系) secret
WECOM_SENDER = env.str("WECOM_SENDER", default="")  # the member whose customers are reached
WECOM_RATE_PER_SECOND = env_int("WECOM_RATE_PER_SECOND", 150)
WEIXIN_TIMEOUT = env_int("WEIXIN_TIMEOUT", 10, minimum=1)
# An access token is refreshed this many seconds before it expires (both platforms give 7200 s,
# and keep the old one valid for a few minutes after a refresh).
WEIXIN_TOKEN_MARGIN = env_int("WEIXIN_TOKEN_MARGIN", 300, minimum=0)
