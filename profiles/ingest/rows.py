"""What flows through an ingest: rows by position, refused rows, the report, event keys."""

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.utils.translation import gettext_noop

from core.errors import CodedError, coded
from profiles.models import IDENTIFIER_FIELDS

ERROR_NOT_A_ROW = coded(
    "import.not_a_row", gettext_noop("the item is not an object of field names and values")
)

Progress = Callable[[int], None]

CSV_ERROR = object()  # key of a row the CSV reader could not split, holding the reason


class RowInvalid(CodedError, ValueError):
    """A row that cannot be stored; the message names the field and the problem."""


@dataclass
class RowError:
    """A refused row: its line, the reason in English, and the reason's code and parameters."""

    line: int
    message: str
    record: dict | None = None

    @classmethod
    def of(cls, line: int, exc: RowInvalid) -> "RowError":
        return cls(line, str(exc), exc.record())

    def __str__(self):
        return f"line {self.line}: {self.message}"

    def stored(self) -> dict:
        """Return what a job's result keeps: the line, the code, the template and parameters."""
        record = self.record or {"code": "", "message": self.message, "params": {}}
        return {"line": self.line, **record}


@dataclass
class IngestReport:
    """What an ingest did: rows read, stored, left unchanged, refused (with reasons)."""

    kind: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    profiles_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)  # records: code and parameters
    fatal: str = ""
    fatal_record: dict | None = None  # the fatal reason as code and parameters, when it has one
    seconds: float = 0.0

    @property
    def good(self) -> int:
        return self.read - len(self.errors)

    @property
    def failed(self) -> bool:
        """Return True when nothing could be read (the command then exits non-zero)."""
        return bool(self.fatal) or (self.read > 0 and self.good == 0)

    def summary(self) -> str:
        """Return the one-line summary printed at the end of an import."""
        if self.fatal:
            return f"{self.kind}: nothing imported: {self.fatal}"
        parts = [
            f"{self.kind}: {self.read} rows read",
            f"{self.created} created",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
            f"{len(self.errors)} refused",
        ]
        if self.kind == "events":
            parts.append(f"{self.profiles_created} new profiles")
        return ", ".join(parts) + f" in {self.seconds:.1f}s"

    def as_dict(self, max_errors: int = 200) -> dict:
        return {
            "kind": self.kind, "read": self.read, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged,
            "profiles_created": self.profiles_created, "refused": len(self.errors),
            "errors": [e.stored() for e in self.errors[:max_errors]],
            "warnings": self.warnings, "fatal": self.fatal, "seconds": round(self.seconds, 2),
            "summary": self.summary(),
        }  # fmt: skip


def check_row(row) -> None:
    """Refuse what is not a row, or a row the CSV reader could not split."""
    if not isinstance(row, dict):
        raise RowInvalid(ERROR_NOT_A_ROW)
    if CSV_ERROR in row:
        reason = row[CSV_ERROR]
        raise reason if isinstance(reason, RowInvalid) else RowInvalid(reason)


def valid_rows(
    rows: Iterable[tuple[int, dict]], clean: Callable[[dict], dict], report: IngestReport
) -> Iterator[tuple[int, dict]]:
    """Yield (position, cleaned row) of the good rows, counting every row read and recording
    the refused ones."""
    for position, row in rows:
        report.read += 1
        try:
            check_row(row)
            yield position, clean(row)
        except RowInvalid as exc:
            report.errors.append(RowError.of(position, exc))


class RepeatCounter:
    """Count how often each content digest was seen, in little memory for millions of rows.

    Most rows are unique: they cost one 64-bit integer in a set; only repeats use the dict.
    """

    def __init__(self):
        self.once: set[int] = set()
        self.more: dict[int, int] = {}

    def bump(self, digest: bytes) -> int:
        """Return how many times ``digest`` was seen before, and count this time."""
        short = int.from_bytes(digest[:8], "big")
        if short not in self.once:
            self.once.add(short)
            return 0
        repeat = self.more.get(short, 1)
        self.more[short] = repeat + 1
        return repeat


def event_key(clean: dict, seen: RepeatCounter) -> str:
    """Return the idempotency key: the event_id, or the content plus its repeat count so far."""
    if clean["event_id"]:
        return "id:" + clean["event_id"]
    amount = clean["amount"]
    content = "\x1f".join(
        (
            clean["external_id"] or _identifiers_text(clean),
            clean["name"],
            repr(clean["occurred_at"].timestamp()),
            "" if amount is None else str(amount),
            clean["channel"],
            clean["properties_json"],
        )
    )
    digest = hashlib.blake2b(content.encode(), digest_size=20).digest()
    return f"h:{digest.hex()}:{seen.bump(digest)}"


def _identifiers_text(clean: dict) -> str:
    """Return who an event without external_id is about, as its identifiers given (stable
    whichever profile they resolve to)."""
    return "\x1e".join(f"{name}={clean[name]}" for name in IDENTIFIER_FIELDS if clean.get(name))
