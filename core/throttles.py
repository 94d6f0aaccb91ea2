"""How fast the REST API answers one client: rates read from the settings at each request.

Kept apart from ``core.api``: DRF imports these while it builds ``APIView``, which that module uses.
"""

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle as DrfAnonRateThrottle
from rest_framework.throttling import UserRateThrottle as DrfUserRateThrottle


class UserRateThrottle(DrfUserRateThrottle):
    """At most API_RATE_PER_MINUTE requests a minute per signed-in user."""

    def get_rate(self) -> str:
        return f"{settings.API_RATE_PER_MINUTE}/minute"


class AnonRateThrottle(DrfAnonRateThrottle):
    """At most API_ANON_RATE_PER_MINUTE requests a minute per anonymous address."""

    def get_rate(self) -> str:
        return f"{settings.API_ANON_RATE_PER_MINUTE}/minute"
