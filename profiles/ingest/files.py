"""CSV files: read rows with their line numbers, import a whole file, preview an upload."""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from profiles.ingest.clean import EVENT_OPTIONAL, EVENT_REQUIRED, clean_event_row, clean_profile_row
from profiles.ingest.rows import (
    CSV_ERROR,
    IngestReport,
    Progress,
    RowError,
    RowInvalid,
    check_row,
)
from profiles.ingest.service import events_ingest, profiles_ingest

ERROR_NO_HEADER = "the file has no header row"
ERROR_MISSING_COLUMNS = "the header lacks the required column(s): {columns}"
ERROR_NOT_UTF8 = "the file is not UTF-8 text: {reason}"
ERROR_EXTRA_CELLS = "the row has {count} more cell(s) than the header"
WARNING_UNKNOWN_COLUMNS = "column(s) not known for events were ignored: {columns}"
PREVIEW_ROWS = 10
PREVIEW_CHECKED_ROWS = 1000


class CsvUnreadable(ValueError):
    """The file cannot be read as CSV with a header row holding the required columns."""


def csv_rows(stream: io.TextIOBase, required: Iterable[str]) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row) from a CSV text stream, checking the header first.

    Line numbers are those of the file (the header is line 1), also for quoted multi-line cells.
    """
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise CsvUnreadable(ERROR_NOT_UTF8.format(reason=exc.reason)) from None
    except csv.Error as exc:
        raise CsvUnreadable(str(exc)) from None
    if not header:
        raise CsvUnreadable(ERROR_NO_HEADER)
    names = [name.strip() for name in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise CsvUnreadable(ERROR_MISSING_COLUMNS.format(columns=", ".join(missing)))
    width = len(names)
    line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise CsvUnreadable(ERROR_NOT_UTF8.format(reason=exc.reason)) from None
        except csv.Error as exc:
            yield line + 1, {CSV_ERROR: str(exc)}
            line = reader.line_num
            continue
        start = line + 1
        line = reader.line_num
        if not cells:  # a blank line
            continue
        row = dict(zip(names, cells, strict=False))
        if len(cells) > width:
            row[CSV_ERROR] = ERROR_EXTRA_CELLS.format(count=len(cells) - width)
        elif len(cells) < width:  # missing trailing cells read as absent, not as empty
            row.update(dict.fromkeys(names[len(cells) :]))
        yield start, row


def _open_csv(path: Path) -> io.TextIOBase:
    return open(path, encoding="utf-8-sig", newline="")


def count_data_lines(path: Path) -> int:
    """Return the number of lines after the header (an estimate of rows, for progress)."""
    with open(path, "rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1)


def _ingest_file(path: Path, kind: str, progress: Progress | None, lanes: int) -> IngestReport:
    ingest = profiles_ingest if kind == "profiles" else events_ingest
    try:
        with _open_csv(path) as stream:
            rows = csv_rows(stream, _required(kind))
            first = next(rows, None)  # reads the header: raises CsvUnreadable early
            warnings = _unknown_event_columns(_header(path)) if kind == "events" else []
            chained = _prepend(first, rows) if first else iter(())
            report = ingest(rows=chained, progress=progress, lanes=lanes)
            report.warnings.extend(warnings)
            return report
    except FileNotFoundError:
        return IngestReport(kind=kind, fatal=f"no file at {path}")
    except IsADirectoryError:
        return IngestReport(kind=kind, fatal=f"{path} is a folder, not a file")
    except CsvUnreadable as exc:
        return IngestReport(kind=kind, fatal=str(exc))


def _required(kind: str) -> tuple[str, ...]:
    return ("external_id",) if kind == "profiles" else EVENT_REQUIRED


def _unknown_event_columns(header: list[str]) -> list[str]:
    """Return the warning for header columns events do not know, if there are any."""
    extra = [c for c in header if c not in {*EVENT_REQUIRED, *EVENT_OPTIONAL}]
    return [WARNING_UNKNOWN_COLUMNS.format(columns=", ".join(extra))] if extra else []


def _header(path: Path) -> list[str]:
    with _open_csv(path) as stream:
        return [c.strip() for c in next(csv.reader(stream), [])]


def _prepend(first, rest):
    yield first
    yield from rest


def profiles_import_file(
    *, path: Path, progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Import a profiles CSV file (contract in PRODUCT.md); ``lanes`` as in ``profiles_ingest``."""
    return _ingest_file(Path(path), "profiles", progress, lanes)


def events_import_file(
    *, path: Path, progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Import an events CSV file (contract in PRODUCT.md); ``lanes`` as in ``events_ingest``."""
    return _ingest_file(Path(path), "events", progress, lanes)


@dataclass
class ImportPreview:
    """The first rows of an uploaded file and the problems found in its first rows."""

    kind: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: int = 0
    total: int = 0
    fatal: str = ""


def import_preview(*, path: Path, kind: str) -> ImportPreview:
    """Read the first rows of a CSV file and validate them without storing anything."""
    preview = ImportPreview(kind=kind)
    try:
        with _open_csv(Path(path)) as stream:
            _preview_rows(preview, csv_rows(stream, _required(kind)))
    except CsvUnreadable as exc:
        preview.fatal = str(exc)
        return preview
    if not preview.header:
        preview.header = _header(Path(path))
    if kind == "events":
        preview.warnings.extend(_unknown_event_columns(preview.header))
    preview.total = count_data_lines(Path(path))
    return preview


def _preview_rows(preview: ImportPreview, rows: Iterator[tuple[int, dict]]) -> None:
    """Keep the first rows to show and check up to PREVIEW_CHECKED_ROWS rows."""
    clean = clean_profile_row if preview.kind == "profiles" else clean_event_row
    for line, row in rows:
        if not preview.header:
            preview.header = [c for c in row if c is not CSV_ERROR]
        if len(preview.rows) < PREVIEW_ROWS:
            preview.rows.append([str(row.get(c) or "") for c in preview.header])
        try:
            check_row(row)
            clean(row)
        except RowInvalid as exc:
            preview.errors.append(RowError(line, str(exc)))
        preview.checked += 1
        if preview.checked >= PREVIEW_CHECKED_ROWS:
            break
