"""Settings of the channels (``campaigns.channels``): which are offered, and each provider's.

Imported by ``config.settings``; every variable read here has a row in the README's table of
channel settings.
"""

from config.env import env, env_bool, env_int

# The channel keys offered for new campaigns and flow steps (empty: every registered channel).
CAMPAIGN_CHANNELS = [key.strip() for key in env.list("CAMPAIGN_CHANNELS", default=[]) if key]
# Modules outside campaigns/channels/ that register channels (e.g. a deployment's own).
CAMPAIGN_CHANNEL_MODULES = env.list("CAMPAIGN_CHANNEL_MODULES", default=[])

# App push (campaigns.channels.push): FCM HTTP v1 with a service account, JPush Push API v3.
FCM_SERVICE_ACCOUNT_FILE = env.str("FCM_SERVICE_ACCOUNT_FILE", default="")
FCM_API_URL = env.str("FCM_API_URL", default="https://fcm.googleapis.com")
JPUSH_APP_KEY = env.str("JPUSH_APP_KEY", default="")
JPUSH_MASTER_SECRET = env.str("JPUSH_MASTER_SECRET", default="")
JPUSH_API_URL = env.str("JPUSH_API_URL", default="https://api.jpush.cn")
JPUSH_APNS_PRODUCTION = env_bool("JPUSH_APNS_PRODUCTION", True)
PUSH_TIMEOUT = env_int("PUSH_TIMEOUT", 10, minimum=1)
CAMPAIGN_RATE_LIMIT_PUSH = env_int("CAMPAIGN_RATE_LIMIT_PUSH", 0)
