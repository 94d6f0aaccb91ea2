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
_LABELS: dict[str, str] = {}
_MESSAGES: dict[str, dict[str, str]] = {}


def job_kind(kind: str, handler: JobHandler, *, label=None, messages=None) -> JobHandler:
    """Register ``handler(*, job, report)`` as the function that runs jobs of ``kind``,
    ``label`` (a lazy translation) as how people see the kind, and ``messages`` ({code: lazy
    translation}) as how they see the progress messages the handler reports by code."""
    if not callable(handler):
        raise TypeError(ERROR_NOT_CALLABLE.format(kind=kind, handler=handler))
    _HANDLERS[kind] = handler
    if label is not None:
        _LABELS[kind] = label
    if messages is not None:
        _MESSAGES[kind] = messages
    return handler


def job_message_label(kind: str, message: str) -> str:
    """Return a job's progress message in the current language (as stored if not a code)."""
    label = _MESSAGES.get(kind, {}).get(message)
    return message if label is None else str(label)


def job_kind_label(kind: str) -> str:
    """Return how people see a job kind, in the current language (the kind itself if unnamed)."""
    label = _LABELS.get(kind)
    return kind if label is None else str(label)


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
