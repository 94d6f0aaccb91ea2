"""Which function runs each kind of job; apps register their handlers in ``ready()``."""

from collections.abc import Callable

from django.utils.translation import gettext_noop

from core.errors import coded

JobHandler = Callable[..., dict | None]

ERROR_UNKNOWN_KIND = coded(
    "job.unknown_kind", gettext_noop("No handler is registered for job kind {kind!r}.")
)
ERROR_NOT_CALLABLE = coded(
    "job.not_callable",
    gettext_noop("The handler for job kind {kind!r} must be a function, not {handler!r}."),
)

_HANDLERS: dict[str, JobHandler] = {}


def job_kind(kind: str, handler: JobHandler) -> JobHandler:
    """Register ``handler(*, job, report)`` as the function that runs jobs of ``kind``."""
    if not callable(handler):
        raise TypeError(ERROR_NOT_CALLABLE.format(kind=kind, handler=handler))
    _HANDLERS[kind] = handler
    return handler


def job_handler_register(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Return a decorator that registers the decorated function for jobs of ``kind``."""

    def register(handler: JobHandler) -> JobHandler:
        return job_kind(kind, handler)

    return register


def job_handler(kind: str) -> JobHandler:
    """Return the handler for ``kind``, or raise LookupError naming the unknown kind."""
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise LookupError(ERROR_UNKNOWN_KIND.format(kind=kind)) from None
