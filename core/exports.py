"""Tables written as CSV or Excel (.xlsx), safe to open in a spreadsheet, and their stored files.

A cell that a spreadsheet program would run as a formula (one starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return: OWASP's CSV injection) is written with a leading apostrophe,
in both formats; in Excel every text cell is also typed as text, so nothing becomes a formula.
CSV carries a byte order mark so that Excel reads it as UTF-8 (Chinese names stay readable).

Exports made by a background job are kept in the "uploads" storage under ``exports/``, one
file per job, and deleted by ``exports_sweep`` after EXPORT_MAX_AGE_HOURS, or at once by
``exports_holding_delete`` when they hold a line of a person being erased.
"""

import csv
import datetime
import io
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import IO

from django.conf import settings
from django.utils import timezone
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from core.uploads import uploads_storage

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV = "csv"
XLSX = "xlsx"
FORMATS = (CSV, XLSX)
CONTENT_TYPES = {
    CSV: "text/csv; charset=utf-8",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
BOM = "\ufeff"
FOLDER = "exports"
_KEY = re.compile(rf"^{FOLDER}/[0-9a-f]{{32}}\.(csv|xlsx)$")
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")
ERROR_BAD_KEY = "{key!r} is not an export key (exports/<32 hex digits>.csv or .xlsx)."


def csv_safe(value) -> str:
    """Return a cell that spreadsheet programs will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _local(value: datetime.datetime) -> datetime.datetime:
    """Return an aware date-time in the current time zone, without its offset (Excel has none)."""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.replace(tzinfo=None)


def csv_cell(value) -> str:
    """Return a value as a CSV cell: local ISO 8601 for date-times, formulas neutralised."""
    if isinstance(value, datetime.datetime):
        return _local(value).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return csv_safe(value)


class _Echo:
    def write(self, value):
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """Yield a CSV document line by line (header first, with a byte order mark)."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow([csv_safe(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def _xlsx_value(value):
    """Return a value as openpyxl should store it: numbers and dates as such, text as text."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime.datetime):
        return _local(value)
    if isinstance(value, datetime.date):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", csv_safe(value))


def sheet_title(title: str) -> str:
    """Return a worksheet title Excel accepts (31 characters, none of []:*?/\\)."""
    return (_SHEET_TITLE_BAD.sub(" ", title).strip() or "Sheet")[:31]


def xlsx_write(header: Sequence[str], rows: Iterable[Sequence], file: IO[bytes], *, title: str):
    """Write one worksheet (a bold header, then the rows) as an .xlsx workbook into ``file``.

    The workbook is written in openpyxl's write-only mode: rows go to a temporary file, not to
    memory, so a large export keeps a flat memory use.
    """
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title(title))
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=_xlsx_value(name))
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=_xlsx_value(value))
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, even if it looks like a formula or a number
            cells.append(cell)
        sheet.append(cells)
    book.save(file)


def export_write(fmt: str, header, rows, file: IO[bytes], *, title: str) -> None:
    """Write the table in ``fmt`` (csv or xlsx) into the binary ``file``."""
    if fmt == XLSX:
        xlsx_write(header, rows, file, title=title)
        return
    for line in csv_lines(header, rows):
        file.write(line.encode())


def export_file_save(fmt: str, file: IO[bytes]) -> str:
    """Store a written export under a new random key and return the key."""
    file.seek(0)
    key = uploads_storage().save(f"{FOLDER}/{uuid.uuid4().hex}.{fmt}", file)
    return key.replace("\\", "/")


def export_file_open(key: str) -> IO[bytes]:
    """Open a stored export for reading; raise FileNotFoundError when it is gone (swept)."""
    if not _KEY.match(key or ""):
        raise ValueError(ERROR_BAD_KEY.format(key=key))
    storage = uploads_storage()
    if not storage.exists(key):
        raise FileNotFoundError(key)
    return storage.open(key, "rb")


def exports_sweep(*, max_age: datetime.timedelta | None = None) -> dict[str, int]:
    """Delete stored exports older than ``max_age`` (EXPORT_MAX_AGE_HOURS)."""
    if max_age is None:
        max_age = datetime.timedelta(hours=settings.EXPORT_MAX_AGE_HOURS)
    storage = uploads_storage()
    try:
        _folders, names = storage.listdir(FOLDER)
    except FileNotFoundError:
        return {"deleted": 0, "kept": 0}
    cutoff = timezone.now() - max_age
    deleted = kept = 0
    for name in names:
        key = f"{FOLDER}/{name}"
        if not _KEY.match(key) or storage.get_modified_time(key) > cutoff:
            kept += 1
            continue
        storage.delete(key)
        deleted += 1
    return {"deleted": deleted, "kept": kept}


def _export_lines(key: str, data: bytes) -> Iterator[str]:
    """Yield a stored export's rows as CSV lines (an Excel workbook's rows written as CSV)."""
    if key.endswith(f".{CSV}"):
        yield from data.decode("utf-8-sig", "replace").splitlines()
        return
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    try:
        for sheet in workbook.worksheets:
            for row in sheet.iter_rows(values_only=True):
                line = io.StringIO()
                csv.writer(line).writerow("" if value is None else value for value in row)
                yield line.getvalue()
    finally:
        workbook.close()


def exports_holding_delete(*, matches: Callable[[str], bool]) -> int:
    """Delete every stored export with a row ``matches`` picks (a CSV line); return how many.

    Erasure calls it: a finished export may hold the person's address until it is swept, and
    its user can export the table again.
    """
    storage = uploads_storage()
    try:
        _folders, names = storage.listdir(FOLDER)
    except FileNotFoundError:
        return 0
    deleted = 0
    for name in names:
        key = f"{FOLDER}/{name}"
        if not _KEY.match(key):
            continue
        with storage.open(key, "rb") as file:
            data = file.read()
        if any(matches(line) for line in _export_lines(key, data)):
            storage.delete(key)
            deleted += 1
    return deleted
