"""Settings of the channels (``campaigns.channels``): which are offered, and each provider's.

Imported by ``config.settings``; every variable read here has a row in the README's table of
channel settings.
"""

from config.env import env, env_int

# The channel keys offered for new campaigns and flow steps (empty: every registered channel).
CAMPAIGN_CHANNELS = [key.strip() for key in env.list("CAMPAIGN_CHANNELS", default=[]) if key]
# Modules outside campaigns/channels/ that register channels (e.g. a deployment's own).
CAMPAIGN_CHANNEL_MODULES = env.list("CAMPAIGN_CHANNEL_MODULES", default=[])

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
