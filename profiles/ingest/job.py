"""The background job that imports an uploaded CSV file, reporting rows done as it goes."""

from django.conf import settings

from core.uploads import upload_delete, upload_open
from profiles.ingest.files import count_data_lines, csv_import

IMPORT_JOB_KIND = "profiles.import"


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
        raise ValueError(outcome.summary())
    return outcome.as_dict()
