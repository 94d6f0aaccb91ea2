"""Typed environment variables for the settings: each refuses a bad value with ImproperlyConfigured.

The settings read ``.env`` into the environment first; these functions read it when called.
"""

import re

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """Return a boolean environment variable, refusing values that are neither true nor false."""
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    """Return an integer environment variable of at least ``minimum``."""
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_fraction(name: str, default: float) -> float:
    """Return a number in (0, 1] from the environment (a share, such as a rule's support)."""
    raw = env.str(name, default=str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not 0 < value <= 1:
        raise ImproperlyConfigured(f"{name}={value} must be above 0 and at most 1.")
    return value


def env_purposes(name: str) -> dict[str, str]:
    """Return extra consent purposes from ``slug=Label,slug2=Label 2``."""
    purposes = {}
    for item in env.list(name, default=[]):
        slug, sep, label = item.partition("=")
        slug = slug.strip()
        if not sep or not slug.replace("_", "").isalnum() or not slug.isascii() or len(slug) > 40:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not slug=Label (slug: letters, digits and _, at most 40)."
            )
        purposes[slug] = label.strip() or slug
    return purposes


_QUIET_HOURS = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


def env_quiet_hours(name: str) -> str:
    """Return quiet hours as "HH:MM-HH:MM" (start-end, may cross midnight) or "" for none."""
    raw = env.str(name, default="").strip()
    if not raw:
        return ""
    match = _QUIET_HOURS.fullmatch(raw.replace(" ", ""))
    numbers = [int(part) for part in match.groups()] if match else []
    if (
        not match
        or numbers[0] > 23
        or numbers[2] > 23
        or numbers[1] > 59
        or numbers[3] > 59
        or numbers[:2] == numbers[2:]
    ):
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a quiet period like 21:00-08:00 (HH:MM-HH:MM, in TIME_ZONE, "
            "start and end different); leave it empty for none."
        )
    return "{:02d}:{:02d}-{:02d}:{:02d}".format(*numbers)
