"""Settings of the channels (``campaigns.channels``): which are offered, and each provider's.

Imported by ``config.settings``; every variable read here has a row in the README's table of
channel settings.
"""

from config.env import env

# The channel keys offered for new campaigns and flow steps (empty: every registered channel).
CAMPAIGN_CHANNELS = [key.strip() for key in env.list("CAMPAIGN_CHANNELS", default=[]) if key]
# Modules outside campaigns/channels/ that register channels (e.g. a deployment's own).
CAMPAIGN_CHANNEL_MODULES = env.list("CAMPAIGN_CHANNEL_MODULES", default=[])
