"""Which function runs each kind of job; apps register their handlers at import."""

from collections.abc import Callable

from django.utils.module_loading import import_string

_HANDLERS: dict[str, str] = {}


def job_kind(kind: str, handler_path: str) -> None:
    """Register the dotted path of the function that runs jobs of ``kind``."""
    _HANDLERS[kind] = handler_path


def job_handler(kind: str) -> Callable:
    """Return the handler for ``kind``, or raise LookupError naming the unknown kind."""
    try:
        return import_string(_HANDLERS[kind])
    except KeyError:
        raise LookupError(f"No handler is registered for job kind {kind!r}.") from None
