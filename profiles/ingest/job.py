"""The background job that imports an uploaded CSV file, reporting rows done as it goes."""

from django.conf import settings
from django.utils.translation import gettext_noop

from core.errors import CodedError, coded
from core.uploads import upload_delete, upload_open
from profiles.ingest.files import count_data_lines, csv_import

ERROR_NOTHING_IMPORTED = coded(
    "import.nothing_imported", gettext_noop("Nothing imported: {reason}")
)

IMPORT_JOB_KIND = "profiles.import"


class ImportRefused(CodedError, ValueError):
    """A file the job could not import at all; the job fails with this reason."""


def import_job(*, job, report) -> dict:
    """Import the upload stored under the payload's key, reporting rows done; delete it after.

    The file is read through the uploads storage, so the worker may run on another machine than
    the web process that received it. It is deleted whether the import succeeds or fails.
    """
    key = job.payload["key"]
    kind = job.payload["kind"]
    try:
        with upload_open(key) as file:
            total = count_data_lines(file)
            report(0, total, force=True)
            outcome = csv_import(
                source=file,
                kind=kind,
                progress=lambda done: report(done, total),
                lanes=settings.INGEST_WRITERS,
            )
    finally:
        upload_delete(key)
    if outcome.fatal:
        raise ImportRefused(ERROR_NOTHING_IMPORTED, reason=outcome.fatal_record or outcome.fatal)
    return outcome.as_dict()
