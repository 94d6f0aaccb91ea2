"""Failed logins counted per client address, across usernames (django-ratelimit, in the cache).

django-axes locks one username at one address after AXES_FAILURE_LIMIT failures; this stops an
address that tries a password on many usernames: after LOGIN_ADDRESS_FAILURE_LIMIT failures
within AXES_COOLOFF_MINUTES it may not log in at all until that window has passed. The address is
the one ``RATELIMIT_IP_META_KEY`` gives (behind the proxy, the one the proxy saw).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django_ratelimit.core import get_usage

GROUP = "core.login.address-failures"


def _rate(group, request) -> str:
    minutes = max(1, round(settings.AXES_COOLOFF_TIME * 60))
    return f"{settings.LOGIN_ADDRESS_FAILURE_LIMIT}/{minutes}m"


def _failures(request, *, count: bool) -> int:
    usage = get_usage(request, group=GROUP, key="ip", rate=_rate, increment=count)
    return usage["count"] if usage else 0


def address_locked(request) -> bool:
    """Return whether the request's address has failed to log in too often lately."""
    return _failures(request, count=False) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT


def login_failed(sender, credentials, request=None, **kwargs) -> None:
    """Count a failed login against its address (``user_login_failed`` receiver)."""
    if request is not None and not getattr(request, "axes_locked_out", False):
        _failures(request, count=True)


class AddressLimitBackend:
    """Refuse any login from an address that is locked, before a password is checked.

    Sets ``axes_locked_out`` so that django-axes' middleware answers with its lockout page (429).
    It has no ``get_user``: it never signs anyone in, so sessions never name it.
    """

    def authenticate(self, request, **credentials):
        if request is not None and address_locked(request):
            request.axes_locked_out = True
            raise PermissionDenied
        return None
