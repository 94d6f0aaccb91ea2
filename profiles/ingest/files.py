"""CSV files: read rows with their line numbers, import a whole file, preview an upload.

A source is a path, or a binary file object that can seek (an upload, a file opened through a
storage): the import job reads its file through Django's storage API, never from a local path.
"""

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.conf import settings
from django.utils.translation import gettext_noop

from core.errors import CodedError, coded
from profiles.ingest.clean import (
    EVENT_COLUMNS_REQUIRED,
    EVENT_OPTIONAL,
    EVENT_REQUIRED,
    clean_event_row,
    clean_profile_row,
)
from profiles.ingest.rows import (
    CSV_ERROR,
    IngestReport,
    Progress,
    RowError,
    RowInvalid,
    check_row,
)
from profiles.ingest.service import events_ingest, profiles_ingest

ERROR_NO_HEADER = coded("import.no_header", gettext_noop("the file has no header row"))
ERROR_MISSING_COLUMNS = coded(
    "import.missing_columns", gettext_noop("the header lacks the required column(s): {columns}")
)
ERROR_NOT_UTF8 = coded("import.not_utf8", gettext_noop("the file is not UTF-8 text: {reason}"))
ERROR_EXTRA_CELLS = coded(
    "import.extra_cells", gettext_noop("the row has {count} more cell(s) than the header")
)
ERROR_DUPLICATE_COLUMNS = coded(
    "import.duplicate_columns",
    gettext_noop("the header names the column(s) {columns} more than once"),
)
ERROR_TOO_MANY_COLUMNS = coded(
    "import.too_many_columns",
    gettext_noop("the header has {count} columns; at most {limit} are allowed"),
)
ERROR_UNCLOSED_QUOTE = coded(
    "import.unclosed_quote", gettext_noop("a quote opened on this line is never closed")
)
ERROR_CELL_TOO_LONG = coded(
    "import.cell_too_long",
    gettext_noop(
        "a cell starting on this line is longer than {limit} characters (is a quote left open?)"
    ),
)
WARNING_UNKNOWN_COLUMNS = coded(
    "import.warning_unknown_columns",
    gettext_noop("column(s) not known for events were ignored: {columns}"),
)
PREVIEW_ROWS = 10
PREVIEW_CHECKED_ROWS = 1000

Source = str | Path | IO[bytes]


class CsvUnreadable(CodedError, ValueError):
    """The file cannot be read as CSV with a header row holding the required columns."""


def _header(reader, required: Iterable, names: list[str]) -> list[str]:
    """Read the header row into ``names`` and return it; refuse one without ``required``,
    with a column named twice, or with more than IMPORT_MAX_COLUMNS columns."""
    try:
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise CsvUnreadable(ERROR_NOT_UTF8, reason=exc.reason) from None
    except csv.Error as exc:
        raise CsvUnreadable(str(exc)) from None
    if not header:
        raise CsvUnreadable(ERROR_NO_HEADER)
    if len(header) > settings.IMPORT_MAX_COLUMNS:
        raise CsvUnreadable(
            ERROR_TOO_MANY_COLUMNS, count=len(header), limit=settings.IMPORT_MAX_COLUMNS
        )
    names[:] = [name.strip() for name in header]
    repeated = [name for name, count in Counter(names).items() if name and count > 1]
    if repeated:
        raise CsvUnreadable(ERROR_DUPLICATE_COLUMNS, columns=", ".join(repeated))
    # A required entry may be a tuple of columns of which any one will do ("a/b": a or b).
    missing = [
        "/".join(c) if isinstance(c, tuple) else c
        for c in required
        if not (set(c) if isinstance(c, tuple) else {c}) & set(names)
    ]
    if missing:
        raise CsvUnreadable(ERROR_MISSING_COLUMNS, columns=", ".join(missing))
    return names


def _lines(stream: io.TextIOBase, ended: list) -> Iterator[str]:
    """Yield the stream's lines, then note in ``ended`` that the file has ended."""
    for line in stream:  # noqa: UP028 (``yield from`` would close the stream with this generator)
        yield line
    ended.append(True)


def csv_rows(
    stream: io.TextIOBase, required: Iterable, header_out: list[str] | None = None
) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row) from a CSV text stream, checking the header first.

    Line numbers are those of the file (the header is line 1), also for quoted multi-line cells.
    ``header_out``, when given, receives the header's column names once it is read. A quote
    never closed is refused at the line it opens: the reader asked for the next line in the
    middle of a row (only a quoted cell spans lines) and the file had ended. A cell past the
    reader's limit is refused at its line, and reading goes on at the next line.
    """
    ended: list = []
    reader = csv.reader(_lines(stream, ended))
    names = _header(reader, required, [] if header_out is None else header_out)
    width = len(names)
    line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise CsvUnreadable(ERROR_NOT_UTF8, reason=exc.reason) from None
        except csv.Error as exc:
            yield line + 1, {CSV_ERROR: _csv_error(exc)}
            line = reader.line_num
            continue
        start = line + 1
        line = reader.line_num
        if ended:  # the file ended inside this row: its quote was never closed
            yield start, {CSV_ERROR: RowInvalid(ERROR_UNCLOSED_QUOTE)}
            return
        if not cells:  # a blank line
            continue
        row = dict(zip(names, cells, strict=False))
        if len(cells) > width:
            row[CSV_ERROR] = RowInvalid(ERROR_EXTRA_CELLS, count=len(cells) - width)
        elif len(cells) < width:  # missing trailing cells read as absent, not as empty
            row.update(dict.fromkeys(names[len(cells) :]))
        yield start, row


def _csv_error(exc: csv.Error) -> RowInvalid:
    """Return the reason to report for a row the reader could not split."""
    if "field limit" in str(exc):
        return RowInvalid(ERROR_CELL_TOO_LONG, limit=csv.field_size_limit())
    return RowInvalid(str(exc))


@contextmanager
def csv_text(source: Source) -> Iterator[io.TextIOBase]:
    """Open a source as UTF-8 text from its start (a BOM is skipped); a file object stays open."""
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8-sig", newline="") as stream:
            yield stream
        return
    source.seek(0)
    stream = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    try:
        yield stream
    finally:
        stream.detach()


def count_data_lines(source: Source) -> int:
    """Return the number of lines after the header (an estimate of rows, for progress)."""
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            return count_data_lines(handle)
    source.seek(0)
    lines = sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 20), b""))
    source.seek(0)
    return max(0, lines - 1)


def csv_import(
    *, source: Source, kind: str, progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Import a CSV source of ``kind`` "profiles" or "events" (see ``profiles_import_file``)."""
    ingest = profiles_ingest if kind == "profiles" else events_ingest
    try:
        with csv_text(source) as stream:
            header: list[str] = []
            rows = csv_rows(stream, _required(kind), header)
            first = next(rows, None)  # reads the header: raises CsvUnreadable early
            warnings = _unknown_event_columns(header) if kind == "events" else []
            chained = _prepend(first, rows) if first else iter(())
            report = ingest(rows=chained, progress=progress, lanes=lanes)
            report.warnings.extend(warnings)
            return report
    except FileNotFoundError:
        return IngestReport(kind=kind, fatal=f"no file at {source}")
    except IsADirectoryError:
        return IngestReport(kind=kind, fatal=f"{source} is a folder, not a file")
    except CsvUnreadable as exc:
        return IngestReport(kind=kind, fatal=str(exc), fatal_record=exc.record())


def _required(kind: str) -> tuple:
    return ("external_id",) if kind == "profiles" else EVENT_COLUMNS_REQUIRED


def _unknown_event_columns(header: list[str]) -> list[dict]:
    """Return the warning (code and parameters) for header columns events do not know, if any."""
    extra = [c for c in header if c not in {*EVENT_REQUIRED, *EVENT_OPTIONAL}]
    return [WARNING_UNKNOWN_COLUMNS.record(columns=", ".join(extra))] if extra else []


def _prepend(first, rest):
    yield first
    yield from rest


def profiles_import_file(
    *, path: Path, progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Import a profiles CSV file (contract in PRODUCT.md); ``lanes`` as in ``profiles_ingest``."""
    return csv_import(source=Path(path), kind="profiles", progress=progress, lanes=lanes)


def events_import_file(
    *, path: Path, progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Import an events CSV file (contract in PRODUCT.md); ``lanes`` as in ``events_ingest``."""
    return csv_import(source=Path(path), kind="events", progress=progress, lanes=lanes)


@dataclass
class ImportPreview:
    """The first rows of an uploaded file and the problems found in its first rows."""

    kind: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[dict | str] = field(default_factory=list)
    checked: int = 0
    total: int = 0
    fatal: dict | str = ""  # the reason as a record (code and parameters), or text


def import_preview(*, source: Source, kind: str) -> ImportPreview:
    """Read the first rows of a CSV source and validate them without storing anything."""
    preview = ImportPreview(kind=kind)
    try:
        with csv_text(source) as stream:
            _preview_rows(preview, csv_rows(stream, _required(kind), preview.header))
    except CsvUnreadable as exc:
        preview.fatal = exc.record()
        return preview
    if kind == "events":
        preview.warnings.extend(_unknown_event_columns(preview.header))
    preview.total = count_data_lines(source)
    return preview


def _preview_rows(preview: ImportPreview, rows: Iterator[tuple[int, dict]]) -> None:
    """Keep the first rows to show and check up to PREVIEW_CHECKED_ROWS rows."""
    clean = clean_profile_row if preview.kind == "profiles" else clean_event_row
    for line, row in rows:
        if len(preview.rows) < PREVIEW_ROWS:
            preview.rows.append([str(row.get(c) or "") for c in preview.header])
        try:
            check_row(row)
            clean(row)
        except RowInvalid as exc:
            preview.errors.append(RowError.of(line, exc))
        preview.checked += 1
        if preview.checked >= PREVIEW_CHECKED_ROWS:
            break
