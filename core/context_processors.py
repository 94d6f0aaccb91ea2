"""Template context every page gets: the signed-in user's unread notification count (lazily)."""

import functools

from core.notifications import notifications_unread_count
from core.roles import ALL_ROLES, user_has_role


def notifications(request) -> dict:
    """Return whether the top bar shows notifications (to users holding a role) and
    ``notifications_unread``, counted (once) only if the page shows it: templates call
    the function."""
    user = getattr(request, "user", None)
    if user is None or not user_has_role(user, *ALL_ROLES):
        return {"notifications_shown": False}
    return {
        "notifications_shown": True,
        "notifications_unread": functools.cache(lambda: notifications_unread_count(user=user)),
    }
