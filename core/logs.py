"""JSON log lines carrying the request, user and job they belong to, in the web and the workers."""

import contextlib
import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from celery.signals import before_task_publish, task_postrun, task_prerun

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id: ContextVar[int | None] = ContextVar("user_id", default=None)
job_id: ContextVar[int | None] = ContextVar("job_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# A request id given by a proxy or client is kept only when it is short and plain.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CONTEXT = {"request_id": request_id, "user_id": user_id, "job_id": job_id}


def request_id_from(header: str | None) -> str:
    """Return ``header`` when it is a sane request id, else a new random one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@contextlib.contextmanager
def log_context(**values):
    """Set request_id, user_id or job_id for the log lines written inside the block."""
    tokens = [(_CONTEXT[name], _CONTEXT[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def context() -> dict:
    """Return the current request_id, user_id and job_id (None where unset)."""
    return {name: var.get() for name, var in _CONTEXT.items()}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and the context."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Format a record as one readable line with the same fields (LOG_FORMAT=text)."""

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{name}={value}" for name, value in context().items() if value is not None)
        record.context = f" [{ids}]" if ids else ""
        return super().format(record)


# Celery: the request id (and the user) travel in the task message's headers and are set while
# the task runs.
TASK_HEADERS = {"request_id": request_id, "user_id": user_id}
_task_tokens: dict[str, list] = {}


def _sane_user_id(value) -> int | None:
    """Return ``value`` if it is a user id (an int), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@before_task_publish.connect
def _context_into_task(sender=None, headers=None, **kwargs):
    """Put the current request id and user id into the headers of a task being sent."""
    if headers is None:
        return
    for header, var in TASK_HEADERS.items():
        if var.get() is not None:
            headers.setdefault(header, var.get())


@task_prerun.connect
def _context_from_task(task_id=None, task=None, **kwargs):
    """Set the request id and user id the task was sent with (if any) for its log lines."""
    sent = {header: getattr(task.request, header, None) for header in TASK_HEADERS}
    if task_id and sent["request_id"]:
        _task_tokens[task_id] = [
            (request_id, request_id.set(request_id_from(str(sent["request_id"])))),
            (user_id, user_id.set(_sane_user_id(sent["user_id"]))),
        ]


@task_postrun.connect
def _context_cleared(task_id=None, **kwargs):
    """Restore the ids the worker had before the task (none, outside eager mode)."""
    for var, token in reversed(_task_tokens.pop(task_id, [])):
        var.reset(token)
