"""The background job that imports an uploaded CSV file, reporting rows done as it goes."""

from pathlib import Path

from django.conf import settings

from profiles.ingest.files import count_data_lines, events_import_file, profiles_import_file

IMPORT_JOB_KIND = "profiles.import"


def import_job(*, job, report) -> dict:
    """Run an uploaded import as a background job, reporting rows done; remove the file after."""
    path = Path(job.payload["path"])
    kind = job.payload["kind"]
    importer = profiles_import_file if kind == "profiles" else events_import_file
    total = job.total or count_data_lines(path)
    outcome = importer(
        path=path, progress=lambda done: report(done, total), lanes=settings.INGEST_WRITERS
    )
    if outcome.fatal:
        raise ValueError(outcome.summary())
    path.unlink(missing_ok=True)
    return outcome.as_dict()
