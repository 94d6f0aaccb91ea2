"""One way to show a moment everywhere: local time (TIME_ZONE), e.g. "2026-03-01 14:05"."""

import datetime as dt

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime

MOMENT_FORMAT = "Y-m-d H:i"


def moment_text(value) -> str:
    """Return an aware datetime (or an ISO 8601 string of one) in local time as MOMENT_FORMAT.

    A string that is not a datetime comes back as it is; None and "" become "" so that
    ``|when|default:"—"`` works in a template.
    """
    if value is None or value == "":
        return ""
    try:
        moment = parse_datetime(value) if isinstance(value, str) else value
    except ValueError:  # well formed but not a real moment, e.g. month 13
        return value
    if not isinstance(moment, dt.datetime):
        return value
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, MOMENT_FORMAT)
