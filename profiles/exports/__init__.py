"""Exports of the tables people see (profiles, members, recipients, funnel, consent) as CSV or
Excel, each recorded in the audit trail, masked for the user's role.

Each app registers what it can export from its ``ready()``::

    export_kind_register(ExportKind(name="segment-members", roles=(OPS,), build=members_table))

``build(*, user, params)`` returns an ``ExportTable`` (columns, lazy rows, a row counter),
masking contact data for ``user``; it raises ``ExportError`` for parameters it cannot use.
A table of at most EXPORT_DIRECT_MAX_ROWS rows is sent in the response; a larger one is
written by a background job (``EXPORT_JOB_KIND``) into a file that only the user who asked (or
a superuser) downloads, until it is swept after EXPORT_MAX_AGE_HOURS.
"""

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.exports import CSV, FORMATS, export_file_save, export_write
from core.masking import contact_for
from core.models import Job
from core.roles import user_has_role
from core.services import JobReporter, job_enqueue
from profiles.audit import audit_export_record
from profiles.models import IDENTIFIER_FIELDS

EXPORT_JOB_KIND = "profiles.export"
ERROR_UNKNOWN_KIND = _("There is no export called “%(kind)s”.")
ERROR_FORMAT = _("Choose CSV or Excel (xlsx) for the export, not “%(format)s”.")
ERROR_GONE = _("The file of this export has been deleted: export the table again.")

Counter = Callable[[int | None], int]


@dataclass
class ExportTable:
    """What an export writes: ``columns`` as (key, label), ``rows`` produced lazily.

    ``counter(cap)`` returns the number of rows, or any number above ``cap`` once there are
    more (so that a large table is not counted in full to learn it is large). ``what`` names
    the table in the audit trail; ``source`` is the object it came from (a segment …), if any.
    """

    name: str
    title: str
    what: str
    columns: Sequence[tuple[str, str]]
    rows: Iterable[Sequence]
    counter: Counter
    source: Model | None = None

    @property
    def header(self) -> list[str]:
        return [key for key, _label in self.columns]

    @property
    def labels(self) -> list[str]:
        return [str(label) for _key, label in self.columns]

    def filename(self, fmt: str) -> str:
        return f"{self.name}-{timezone.localdate():%Y%m%d}.{fmt}"


@dataclass(frozen=True)
class ExportKind:
    """An export people can ask for: who may (``roles``) and how its table is built."""

    name: str
    roles: tuple[str, ...]
    build: Callable[..., ExportTable]
    params: tuple[str, ...] = field(default=())


class ExportError(ValueError):
    """Parameters an export cannot use; the message says which and why."""


_KINDS: dict[str, ExportKind] = {}


def export_kind_register(kind: ExportKind) -> ExportKind:
    """Make ``kind`` available at ``/exports/<name>.<format>``."""
    _KINDS[kind.name] = kind
    return kind


def export_kind(name: str) -> ExportKind:
    """Return the export called ``name``, or raise ExportError."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ExportError(ERROR_UNKNOWN_KIND % {"kind": name}) from None


def export_allowed(user, name: str) -> bool:
    """Return whether ``user`` may run the export called ``name``."""
    kind = _KINDS.get(name)
    return kind is not None and user_has_role(user, *kind.roles)


def format_check(fmt: str) -> str:
    """Return ``fmt`` if it is an export format, else raise ExportError."""
    if fmt not in FORMATS:
        raise ExportError(ERROR_FORMAT % {"format": fmt})
    return fmt


def queryset_counter(queryset: QuerySet) -> Counter:
    """Return a counter of ``queryset`` that stops counting past ``cap``."""

    def count(cap: int | None) -> int:
        rows = queryset.order_by()
        return rows.count() if cap is None else rows[: cap + 1].count()

    return count


def list_table(**kwargs) -> ExportTable:
    """Return a table whose ``rows`` are already a list (numbers: small by nature)."""
    rows = list(kwargs.pop("rows"))
    return ExportTable(rows=rows, counter=lambda cap: len(rows), **kwargs)


def rows_shown(rows: Iterable[Sequence], keys: Sequence[str], shown: dict[str, Callable]):
    """Yield each row with the values of the columns named in ``shown`` passed through their
    function (a mask, a label), the other values as they are."""
    functions = [shown.get(key) for key in keys]
    for row in rows:
        yield [value if fn is None else fn(value) for fn, value in zip(functions, row, strict=True)]


def contact_shown(user) -> dict[str, Callable]:
    """Return the ``rows_shown`` functions that show contact data (email, phone, platform
    identifiers) as ``user`` may."""
    return {
        "email": lambda value: contact_for(user, value, kind="email"),
        "phone": lambda value: contact_for(user, value, kind="phone"),
        **{
            name: lambda value: contact_for(user, value, kind="identifier")
            for name in IDENTIFIER_FIELDS
        },
    }


def label_of(choices) -> Callable:
    """Return a function giving the label of a stored choice (the value itself if unknown)."""
    labels = {value: str(label) for value, label in choices}
    return lambda value: labels.get(value, value or "")


def export_params(kind: ExportKind, query) -> dict[str, str]:
    """Return the parameters of ``query`` (a QueryDict or dict) that the export reads."""
    return {name: query.get(name, "").strip() for name in kind.params if query.get(name)}


def export_build(*, name: str, user, params: dict) -> tuple[ExportKind, ExportTable]:
    """Return the export and its table for ``user``; PermissionDenied if the user may not."""
    kind = export_kind(name)
    if not user_has_role(user, *kind.roles):
        raise PermissionDenied
    return kind, kind.build(user=user, params=params)


def export_enqueue(*, name: str, fmt: str, params: dict, user, remote_addr: str | None) -> Job:
    """Queue the export as a background job for ``user``."""
    payload = {"kind": name, "format": fmt, "params": params, "remote_addr": remote_addr}
    return job_enqueue(kind=EXPORT_JOB_KIND, payload=payload, user=user)


def _counted(rows: Iterable[Sequence], report: JobReporter, seen: list[int]) -> Iterator:
    for row in rows:
        seen[0] += 1
        report(seen[0])
        yield row


def export_job(*, job: Job, report: JobReporter) -> dict:
    """Write a queued export into a stored file; record it in the audit trail; return its key."""
    payload = job.payload
    fmt = format_check(payload.get("format", ""))
    user = job.created_by
    if user is None:
        raise PermissionDenied("The user who asked for this export no longer exists.")
    _kind, table = export_build(name=payload.get("kind", ""), user=user, params=payload["params"])
    report(0, table.counter(None), force=True)
    seen = [0]
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as file:
        rows = _counted(table.rows, report, seen)
        export_write(fmt, export_headers(table, fmt), rows, file, title=table.title)
        key = export_file_save(fmt, file)
    audit_export_record(
        user=user,
        remote_addr=payload.get("remote_addr"),
        source=table.source,
        what=export_what(table, fmt),
        rows=seen[0],
    )
    report(seen[0], seen[0], force=True)
    return {"file": key, "filename": table.filename(fmt), "rows": seen[0], "format": fmt}


def export_headers(table: ExportTable, fmt: str) -> list[str]:
    """Return the header row: field names in CSV (the import formats' names), labels in Excel."""
    return table.header if fmt == CSV else table.labels


def export_what(table: ExportTable, fmt: str) -> str:
    """Return how the audit trail names a download of ``table`` in ``fmt``."""
    return f"{table.what} ({fmt.upper()})"
