"""The roles of the back-office, as Django groups, and how views require them."""

from django.contrib.auth.mixins import UserPassesTestMixin
from django.core.exceptions import PermissionDenied

OPS = "ops"
CAMPAIGN_MANAGER = "campaign_manager"
CONSENT_ADMIN = "consent_admin"
ALL_ROLES = (OPS, CAMPAIGN_MANAGER, CONSENT_ADMIN)


def user_has_role(user, *roles: str) -> bool:
    """Return whether the user is a superuser or belongs to one of the groups ``roles``."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._role_names = cached
    return bool(cached.intersection(roles))


def user_is_privileged(user) -> bool:
    """Return whether the user is a superuser or a consent admin: shorter sessions, two factors."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user_has_role(user, CONSENT_ADMIN)


def require_role(user, *roles: str) -> None:
    """Raise PermissionDenied unless the user has one of ``roles``."""
    if not user_has_role(user, *roles):
        raise PermissionDenied


class RoleRequiredMixin(UserPassesTestMixin):
    """Allow a class-based view only to users holding one of ``required_roles``."""

    required_roles: tuple[str, ...] = ALL_ROLES

    def test_func(self):
        return user_has_role(self.request.user, *self.required_roles)


# Views a signed-in user without any role may still open (by view name): their own account.
ROLE_FREE_VIEWS = frozenset({"logout", "password_change", "password_change_done", "admin:logout"})
