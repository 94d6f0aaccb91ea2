"""What the import commands share: run one import with a progress bar and report it."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import error_text
from profiles import ingest

IMPORTERS = {"profiles": ingest.profiles_import_file, "events": ingest.events_import_file}
MAX_LISTED_ERRORS = 1000


class ImportCommand(BaseCommand):
    """Import one CSV file; bad rows are listed on stderr, a summary line ends the output."""

    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help=f"CSV file of {self.kind} with a header row")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, path, no_progress, **options):
        show_bar = not no_progress and sys.stderr.isatty()
        bar = None
        if show_bar and path.is_file():
            bar = tqdm(total=ingest.count_data_lines(path), unit="rows", desc=self.kind)

        def progress(done: int) -> None:
            if bar is not None:
                bar.update(done - bar.n)

        try:
            report = IMPORTERS[self.kind](
                path=path, progress=progress, lanes=settings.INGEST_WRITERS
            )
        finally:
            if bar is not None:
                bar.close()
        for error in report.errors[:MAX_LISTED_ERRORS]:
            self.stderr.write(str(error))
        if len(report.errors) > MAX_LISTED_ERRORS:
            self.stderr.write(f"… and {len(report.errors) - MAX_LISTED_ERRORS} more refused rows")
        for warning in report.warnings:
            self.stderr.write(f"warning: {error_text(warning, translate=False)}")
        if report.failed:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
