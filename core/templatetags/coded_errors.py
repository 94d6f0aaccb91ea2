"""Template filter that shows a stored error (code and parameters, or old plain text) in words."""

from django import template

from core.errors import error_text as _error_text

register = template.Library()


@register.filter
def error_text(stored) -> str:
    """Return ``stored`` in the active language (see ``core.errors.error_text``).

    ``stored`` is a record, its JSON text, plain text, or an object holding a ``record``
    (such as a refused import row).
    """
    record = getattr(stored, "record", None)
    if isinstance(record, dict):
        return _error_text(record)
    if hasattr(stored, "line") and hasattr(stored, "message"):
        return _error_text(stored.message)
    return _error_text(stored)
