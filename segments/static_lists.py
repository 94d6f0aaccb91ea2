"""Static segments: lists of profiles filled from a CSV of external IDs or the profile filter.

Every change is one new version of the segment, written by the one membership writer
(``segments.membership.membership_version_write``): the profiles that entered (or left) are
logged as SegmentTransition rows with that version, memberships are written from them, and a
bound rule tag follows through ``segments.tags.segment_tag_sync``.
"""

import codecs
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.bulk import pk_chunks
from core.sql import select_sql
from profiles.models import Profile
from profiles.selectors import profile_filter
from segments.membership import membership_version_write
from segments.models import Segment, SegmentMembership, SegmentRun
from segments.sql import EVERY_MEMBER
from segments.tags import segment_tag_sync

CSV_HEADER = "external_id"
# Profiles written per statement, and external IDs looked up per query.
CHUNK_SIZE = 20_000
LOOKUP_SIZE = 1_000
MAX_REPORTED_ERRORS = 200
_EXTERNAL_ID_MAX = Profile._meta.get_field("external_id").max_length

ERROR_NOT_STATIC = gettext_lazy(
    "“{name}” is a dynamic segment: its members come from its rule. Only static segments take "
    "lists of profiles."
)
ERROR_NOT_UTF8 = gettext_lazy("The file is not UTF-8 text: save it as CSV UTF-8 and try again.")
ERROR_NO_HEADER = gettext_lazy(
    "The first line of the file must be the header “external_id” (found “{found}”)."
)
ERROR_EMPTY_ID = gettext_lazy("empty external ID")
ERROR_ID_TOO_LONG = gettext_lazy("external ID longer than {limit} characters")
ERROR_UNKNOWN_ID = gettext_lazy("no profile has this external ID")


@dataclass
class RowError:
    """One skipped line of an uploaded file."""

    line: int
    external_id: str
    message: str


@dataclass
class StaticAddReport:
    """What adding a CSV did: rows read, profiles added, and the skipped lines."""

    rows: int = 0
    added: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def skip(self, line: int, external_id: str, message) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line=line, external_id=external_id, message=str(message)))


def _check_static(segment: Segment) -> None:
    if segment.kind != Segment.Kind.STATIC:
        raise ValidationError(ERROR_NOT_STATIC.format(name=segment.name or segment.slug))


def _locked(segment: Segment) -> Segment:
    """Return the segment row locked for this transaction, refusing a dynamic segment."""
    _check_static(segment)
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    _check_static(locked)
    return locked


def _finish(segment: Segment, *, version: int, now, entered: int, exited: int) -> int:
    """Record the new version (run, size, status) and follow with the bound tag; return size."""
    size = SegmentMembership.objects.filter(segment_id=segment.pk).count()
    if entered or exited:
        SegmentRun.objects.create(
            segment=segment, version=version, started_at=now, finished_at=timezone.now(),
            size=size, entered=entered, exited=exited,
        )  # fmt: skip
        if segment.tag_id:
            segment_tag_sync(segment=segment, version=version)
    else:
        version = segment.version  # nothing changed: no new version
    Segment.objects.filter(pk=segment.pk).update(
        status=Segment.Status.READY, version=version, size=size, error="", last_run_at=now
    )
    segment.status, segment.version, segment.size = Segment.Status.READY, version, size
    return size


def _add(segment: Segment, querysets: Iterable[QuerySet[Profile]]) -> int:
    """Add the profiles of ``querysets`` that are not members yet, as one new version."""
    now = timezone.now()
    with transaction.atomic():
        locked = _locked(segment)
        version = locked.version + 1
        not_member = ~Exists(
            SegmentMembership.objects.filter(segment_id=locked.pk, profile_id=OuterRef("pk"))
        )
        chunks = (
            select_sql(rows.order_by().values(profile_id=F("pk")))
            for profiles_qs in querysets
            for rows, _full in pk_chunks(profiles_qs.filter(not_member), CHUNK_SIZE)
        )
        entered, _exited = membership_version_write(
            segment_id=locked.pk, version=version, now=now, entering=chunks, once=True
        )
        _finish(locked, version=version, now=now, entered=entered, exited=0)
    segment.refresh_from_db()
    return entered


def _text(stream) -> str:
    """Return the text of an uploaded file: UTF-8 bytes (BOM or not) or text."""
    raw = stream.read()
    if not isinstance(raw, bytes):
        return raw.removeprefix("\ufeff")
    try:
        return codecs.decode(raw, "utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(ERROR_NOT_UTF8) from None


def _well_formed_ids(text: str, report: StaticAddReport) -> dict[str, int]:
    """Return each well-formed external ID of the CSV with its first line; report the others."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    found = ",".join(header or [])
    if not header or header[0].strip().lower() != CSV_HEADER:
        raise ValidationError(ERROR_NO_HEADER.format(found=found[:50]))
    good: dict[str, int] = {}
    for row in reader:
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        report.rows += 1
        line = reader.line_num
        external_id = row[0].strip()
        if not external_id:
            report.skip(line, external_id, ERROR_EMPTY_ID)
        elif len(external_id) > _EXTERNAL_ID_MAX:
            report.skip(line, external_id[:40], ERROR_ID_TOO_LONG.format(limit=_EXTERNAL_ID_MAX))
        else:
            good.setdefault(external_id, line)
    return good


def _read_ids(stream, report: StaticAddReport) -> list[str]:
    """Return the good external IDs of the CSV ``stream``; record bad lines in ``report``."""
    good = _well_formed_ids(_text(stream), report)
    ids = list(good)
    known: set[str] = set()
    for start in range(0, len(ids), LOOKUP_SIZE):
        batch = ids[start : start + LOOKUP_SIZE]
        known.update(
            Profile.objects.filter(external_id__in=batch).values_list("external_id", flat=True)
        )
    for external_id, line in good.items():
        if external_id not in known:
            report.skip(line, external_id, ERROR_UNKNOWN_ID)
    report.errors.sort(key=lambda error: error.line)
    return [external_id for external_id in ids if external_id in known]


def static_members_add_csv(*, segment: Segment, stream) -> StaticAddReport:
    """Add the profiles listed in a CSV (header ``external_id``) to a static segment.

    The file may be bytes (UTF-8, with or without BOM) or text. Empty, too long and unknown IDs
    are reported by line and skipped; the others are added set-based as one new version.
    Profiles already in the list are left alone, so uploading the same file again adds nothing.
    Raise ValidationError for a dynamic segment, a file that is not UTF-8 or a missing header.
    """
    _check_static(segment)
    report = StaticAddReport()
    ids = _read_ids(stream, report)
    batches = (
        Profile.objects.filter(external_id__in=ids[start : start + LOOKUP_SIZE])
        for start in range(0, len(ids), LOOKUP_SIZE)
    )
    report.added = _add(segment, batches)
    return report


def static_members_add_filter(
    *, segment: Segment, query: str = "", city: str = "", tier: str = "", tag: str = ""
) -> int:
    """Add the profiles the profile list's filters select right now; return how many entered."""
    _check_static(segment)
    profiles_qs = profile_filter(query=query, city=city, tier=tier, tag=tag)
    return _add(segment, [profiles_qs])


def static_members_remove_all(*, segment: Segment) -> int:
    """Empty a static segment as one new version; return how many profiles left."""
    now = timezone.now()
    with transaction.atomic():
        locked = _locked(segment)
        version = locked.version + 1
        _entered, exited = membership_version_write(
            segment_id=locked.pk, version=version, now=now, leaving=(EVERY_MEMBER, ())
        )
        _finish(locked, version=version, now=now, entered=0, exited=exited)
    segment.refresh_from_db()
    return exited


def report_summary(report: StaticAddReport) -> str:
    """Return one sentence for the page: added, read and skipped."""
    return _("Added %(added)s profiles from %(rows)s rows; %(skipped)s rows skipped.") % {
        "added": report.added,
        "rows": report.rows,
        "skipped": report.error_count,
    }
