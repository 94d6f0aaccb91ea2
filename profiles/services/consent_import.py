"""Import consents from a CSV file: preview it, then store the good rows, idempotently.

Columns: ``external_id, channel, purpose, status`` are required; ``recorded_at`` (ISO 8601),
``source`` (default ``import``), ``notice_version``, ``evidence`` and ``reason`` are optional. An
unknown external_id is an error for its row: consents never create profiles. Bad rows are
reported by line number with the reason; good rows are kept.

Importing the same file again adds nothing:

- a dated row is skipped when a record with the same (profile, channel, purpose, status,
  recorded_at, source) is already stored (or came earlier in the file);
- an undated row means "the consent is now this": it is recorded at the time of the import, and
  skipped when the current state of (profile, channel, purpose) already has its status. When a
  file holds several undated rows for one (profile, channel, purpose), the last one wins.

The import runs as a background job (``consent_import_job``) on the upload's storage key, and
reports its progress. Each chunk of rows is stored in its own transaction; an import that stops
half-way can be run again, and adds only what is missing.
"""

import dataclasses
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.uploads import upload_delete, upload_open
from profiles.ingest import (
    CSV_ERROR,
    PREVIEW_CHECKED_ROWS,
    PREVIEW_ROWS,
    CsvUnreadable,
    ImportPreview,
    RowError,
    RowInvalid,
    Source,
    count_data_lines,
    csv_rows,
    csv_text,
    parse_moment,
)
from profiles.ingest.job import ERROR_NOTHING_IMPORTED, ImportRefused
from profiles.models import ConsentRecord, ConsentSource, ConsentState, Profile
from profiles.services.consent import ConsentEntry, consent_entry_check, consent_record_many

REQUIRED_COLUMNS = ("external_id", "channel", "purpose", "status")
OPTIONAL_COLUMNS = ("recorded_at", "source", "notice_version", "evidence", "reason")
CHUNK_SIZE = 2000
CONSENT_IMPORT_JOB_KIND = "profiles.consent_import"
MAX_LISTED_ERRORS = 500

ERROR_REQUIRED = _("%(column)s is required")
ERROR_TOO_LONG = _("%(column)s is longer than %(limit)s characters")
ERROR_NUL = _("%(column)s contains a NUL character")
ERROR_UNKNOWN_PROFILE = _("no profile has the external ID “%(value)s”")
ERROR_NO_FILE = _("the uploaded file is missing; upload it again")
WARNING_UNKNOWN_COLUMNS = _("column(s) not known for consents were ignored: %(columns)s")

_LIMITS = {
    "external_id": 128, "channel": 20, "purpose": 40, "status": 20, "recorded_at": 40,
    "source": 20, "notice_version": 100, "evidence": 10_000, "reason": 2000,
}  # fmt: skip


@dataclass
class ConsentImportReport:
    """What an import did: rows read, records stored, rows already there, rows refused."""

    read: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    fatal: str = ""
    fatal_record: dict | None = None  # the fatal reason as code and parameters, when it has one

    def summary(self) -> str:
        """Return a one-line summary."""
        if self.fatal:
            return str(_("Nothing imported: %(reason)s") % {"reason": self.fatal})
        return str(
            _("%(read)s rows read, %(created)s recorded, %(unchanged)s already recorded, "
              "%(refused)s refused.")
            % {"read": self.read, "created": self.created, "unchanged": self.unchanged,
               "refused": len(self.errors)}
        )  # fmt: skip

    def as_dict(self) -> dict:
        """Return the report as a job result (the first MAX_LISTED_ERRORS refused rows listed)."""
        return {
            "read": self.read, "created": self.created, "unchanged": self.unchanged,
            "refused": len(self.errors),
            "errors": [error.stored() for error in self.errors[:MAX_LISTED_ERRORS]],
            "summary": self.summary(),
        }  # fmt: skip


@dataclass
class _Row:
    """A checked row, not yet matched to a profile."""

    line: int
    external_id: str
    entry: ConsentEntry  # profile_id is 0 until the profile is found


def _cell(row: dict, column: str) -> str:
    value = (row.get(column) or "").strip()
    if len(value) > _LIMITS[column]:
        raise RowInvalid(ERROR_TOO_LONG % {"column": column, "limit": _LIMITS[column]})
    if "\x00" in value:
        raise RowInvalid(ERROR_NUL % {"column": column})
    return value


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(" ".join(str(m) for m in msgs) for msgs in exc.message_dict.values())
    return " ".join(exc.messages)


def clean_consent_row(row: dict, *, now: datetime.datetime) -> tuple[str, ConsentEntry]:
    """Return the row's external_id and entry, or raise RowInvalid naming the problem."""
    if CSV_ERROR in row:
        reason = row[CSV_ERROR]
        raise reason if isinstance(reason, RowInvalid) else RowInvalid(reason)
    cells = {column: _cell(row, column) for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
    for column in REQUIRED_COLUMNS:
        if not cells[column]:
            raise RowInvalid(ERROR_REQUIRED % {"column": column})
    recorded_at = None
    if cells["recorded_at"]:
        recorded_at = parse_moment(cells["recorded_at"], "recorded_at")
    entry = ConsentEntry(
        profile_id=0,
        channel=cells["channel"].lower(),
        purpose=cells["purpose"],
        status=cells["status"].lower(),
        source=cells["source"].lower() or ConsentSource.IMPORT,
        recorded_at=recorded_at,
        notice_version=cells["notice_version"],
        evidence=cells["evidence"],
        reason=cells["reason"],
    )
    try:
        consent_entry_check(entry, now=now)
    except ValidationError as exc:
        raise RowInvalid(_messages(exc)) from None
    return cells["external_id"], entry


def _checked_rows(rows, report: ConsentImportReport, now: datetime.datetime) -> Iterator[_Row]:
    for line, row in rows:
        report.read += 1
        try:
            external_id, entry = clean_consent_row(row, now=now)
        except RowInvalid as exc:
            report.errors.append(RowError.of(line, exc))
            continue
        yield _Row(line, external_id, entry)


def _chunks(rows: Iterator[_Row]) -> Iterator[list[_Row]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_SIZE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _with_profiles(
    chunk: list[_Row], report: ConsentImportReport, *, lock: bool = False
) -> list[_Row]:
    """Return the rows whose profile exists, with its id; report the others as errors."""
    profiles = Profile.objects.filter(external_id__in={row.external_id for row in chunk})
    if lock:  # two imports of one profile serialise here
        profiles = profiles.select_for_update()
    ids = dict(profiles.values_list("external_id", "pk"))
    found = []
    for row in chunk:
        profile_id = ids.get(row.external_id)
        if profile_id is None:
            message = ERROR_UNKNOWN_PROFILE % {"value": row.external_id}
            report.errors.append(RowError(row.line, str(message)))
            continue
        row.entry = dataclasses.replace(row.entry, profile_id=profile_id)
        found.append(row)
    return found


def _new_entries(
    rows: list[_Row], seen: set[tuple], last_undated: dict[tuple, int]
) -> list[ConsentEntry]:
    """Return the entries not stored yet (see the module docstring); ``seen`` spans the file."""
    profile_ids = {row.entry.profile_id for row in rows}
    dated = [row.entry for row in rows if row.entry.recorded_at is not None]
    stored = set()
    if dated:
        stored = set(
            ConsentRecord.objects.filter(
                profile_id__in=profile_ids,
                recorded_at__in={entry.recorded_at for entry in dated},
            ).values_list("profile_id", "channel", "purpose", "status", "recorded_at", "source")
        )
    current = {
        (profile_id, channel, purpose): status
        for profile_id, channel, purpose, status in ConsentState.objects.filter(
            profile_id__in=profile_ids
        ).values_list("profile_id", "channel", "purpose", "status")
    }
    new = []
    for row in rows:
        e = row.entry
        if e.recorded_at is None:
            if last_undated.get((row.external_id, e.channel, e.purpose)) != row.line:
                continue  # a later undated row of the file says what holds now
            if current.get((e.profile_id, e.channel, e.purpose)) == e.status:
                continue
        else:
            key = (e.profile_id, e.channel, e.purpose, e.status, e.recorded_at, e.source)
            if key in stored or key in seen:
                continue
            seen.add(key)
        new.append(e)
    return new


def _last_undated_lines(source: Source) -> dict[tuple, int]:
    """Return the line of the last undated row per (external_id, channel, purpose)."""
    last = {}
    with csv_text(source) as stream:
        for line, row in csv_rows(stream, REQUIRED_COLUMNS):
            if CSV_ERROR in row or (row.get("recorded_at") or "").strip():
                continue
            key = tuple(
                (row.get(c) or "").strip().lower() if c == "channel" else (row.get(c) or "").strip()
                for c in ("external_id", "channel", "purpose")
            )
            last[key] = line
    return last


def consent_import_file(
    *, source: Source, recorded_by=None, progress: Callable[[int], None] | None = None
) -> ConsentImportReport:
    """Import a consent CSV source chunk by chunk and return what it did.

    ``progress`` is called with the rows read so far after each chunk.
    """
    report = ConsentImportReport()
    now = timezone.now()
    try:
        last_undated = _last_undated_lines(source)
        with csv_text(source) as stream:
            seen: set[tuple] = set()
            rows = _checked_rows(csv_rows(stream, REQUIRED_COLUMNS), report, now)
            for chunk in _chunks(rows):
                with transaction.atomic():
                    found = _with_profiles(chunk, report, lock=True)
                    entries = _new_entries(found, seen, last_undated)
                    consent_record_many(entries=entries, recorded_by=recorded_by)
                report.created += len(entries)
                report.unchanged += len(found) - len(entries)
                if progress:
                    progress(report.read)
    except FileNotFoundError:
        report.fatal = str(ERROR_NO_FILE)
    except CsvUnreadable as exc:
        report.fatal = str(exc)
        report.fatal_record = exc.record()
    report.errors.sort(key=lambda error: error.line)
    return report


def consent_import_job(*, job, report) -> dict:
    """Import the consent upload stored under the payload's key as a job; delete it after."""
    key = job.payload["key"]
    try:
        with upload_open(key) as file:
            total = count_data_lines(file)
            report(0, total, force=True)
            outcome = consent_import_file(
                source=file,
                recorded_by=job.created_by,
                progress=lambda done: report(done, total),
            )
    finally:
        upload_delete(key)
    if outcome.fatal:
        raise ImportRefused(ERROR_NOTHING_IMPORTED, reason=outcome.fatal_record or outcome.fatal)
    return outcome.as_dict()


def consent_import_preview(*, source: Source) -> ImportPreview:
    """Read the first rows of a consent CSV source and check them without storing anything."""
    preview = ImportPreview(kind="consents")
    now = timezone.now()
    report = ConsentImportReport()
    try:
        with csv_text(source) as stream:
            raw = _preview_rows(stream, preview)
    except FileNotFoundError:
        preview.fatal = str(ERROR_NO_FILE)
        return preview
    except CsvUnreadable as exc:
        preview.fatal = exc.record()
        return preview
    checked = list(_checked_rows(raw, report, now))
    _with_profiles(checked, report)
    preview.checked = report.read
    preview.errors = sorted(report.errors, key=lambda error: error.line)
    extra = [c for c in preview.header if c and c not in {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS}]
    if extra:
        preview.warnings.append(str(WARNING_UNKNOWN_COLUMNS % {"columns": ", ".join(extra)}))
    preview.total = count_data_lines(source)
    return preview


def _preview_rows(stream, preview: ImportPreview) -> list[tuple[int, dict]]:
    """Fill the preview's header and first rows; return the (line, row) pairs to check."""
    raw = []
    for line, row in csv_rows(stream, REQUIRED_COLUMNS, preview.header):
        if len(preview.rows) < PREVIEW_ROWS:
            preview.rows.append([str(row.get(c) or "") for c in preview.header])
        raw.append((line, row))
        if len(raw) >= PREVIEW_CHECKED_ROWS:
            break
    return raw
