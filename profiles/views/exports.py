"""Download a table as CSV or Excel, in the response or, when large, as a background job's file."""

import io

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from core.exports import CONTENT_TYPES, CSV, csv_lines, export_file_open, export_write
from core.models import Job, JobStatus
from profiles.audit import audit_bulk_export
from profiles.exports import (
    ERROR_GONE,
    EXPORT_JOB_KIND,
    ExportError,
    ExportTable,
    export_build,
    export_enqueue,
    export_headers,
    export_kind,
    export_params,
    export_what,
    format_check,
)


def _refused(request, error: ExportError):
    """Answer 400 with a page that says what was wrong with the request."""
    return render(request, "profiles/export_error.html", {"error": str(error)}, status=400)


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = content_disposition_header(True, filename)
    add_never_cache_headers(response)  # Cache-Control: no-store (and private, no-cache)
    return response


def table_response(table: ExportTable, fmt: str) -> HttpResponse:
    """Return the table as a download: CSV streamed line by line, Excel written first."""
    header = export_headers(table, fmt)
    if fmt == CSV:
        response = StreamingHttpResponse(
            csv_lines(header, table.rows), content_type=CONTENT_TYPES[CSV]
        )
        return _attachment(response, table.filename(fmt))
    file = io.BytesIO()  # at most EXPORT_DIRECT_MAX_ROWS rows: a small workbook
    export_write(fmt, header, table.rows, file, title=table.title)
    response = HttpResponse(file.getvalue(), content_type=CONTENT_TYPES[fmt])
    return _attachment(response, table.filename(fmt))


@never_cache
def export_view(request, kind: str, fmt: str):
    """Send the table ``kind`` (its parameters in the query string) in ``fmt``."""
    return export_answer(request, kind=kind, fmt=fmt, query=request.GET)


def export_answer(request, *, kind: str, fmt: str, query):
    """Send the table ``kind`` with the parameters in ``query`` in ``fmt``, recording the
    download in the audit trail; past EXPORT_DIRECT_MAX_ROWS rows, queue it as a job."""
    try:
        spec = export_kind(kind)
        format_check(fmt)
        params = export_params(spec, query)
        _spec, table = export_build(name=kind, user=request.user, params=params)
        cap = settings.EXPORT_DIRECT_MAX_ROWS
        rows = table.counter(cap)
    except ExportError as error:
        return _refused(request, error)
    if rows > cap:
        job = export_enqueue(
            name=kind, fmt=fmt, params=params, user=request.user,
            remote_addr=request.META.get("REMOTE_ADDR") or None,
        )  # fmt: skip
        messages.info(
            request,
            _("This table has more than %(rows)s rows: its file is being written in the "
              "background. You will find the download link here and in your notifications.")
            % {"rows": cap},
        )  # fmt: skip
        return redirect("job-detail", pk=job.pk)
    audit_bulk_export(request, table.source, what=export_what(table, fmt), rows=rows)
    return table_response(table, fmt)


@never_cache
def export_download(request, pk: int):
    """Send the file a finished export job wrote: to the user who asked for it, or a superuser."""
    jobs = Job.objects.filter(kind=EXPORT_JOB_KIND, status=JobStatus.DONE)
    if not request.user.is_superuser:
        jobs = jobs.filter(created_by=request.user)
    job = get_object_or_404(jobs, pk=pk)
    result = job.result or {}
    try:
        file = export_file_open(result.get("file", ""))
    except (FileNotFoundError, ValueError):
        messages.error(request, ERROR_GONE)
        return redirect("job-detail", pk=job.pk)
    if job.created_by_id != request.user.pk:  # an admin fetching another user's export
        audit_bulk_export(
            request, None, what=f"export #{job.pk} of user {job.created_by_id}",
            rows=result.get("rows", 0),
        )  # fmt: skip
    fmt = result.get("format", CSV)
    response = FileResponse(file, content_type=CONTENT_TYPES.get(fmt, CONTENT_TYPES[CSV]))
    return _attachment(response, result.get("filename") or f"export-{job.pk}.{fmt}")
