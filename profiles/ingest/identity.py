"""Identity stitching: which profile an ingested row means, by its WeChat and WeCom identifiers.

A row (a profile of an import or the API, an event) may carry ``wechat_unionid``,
``wechat_openid`` and ``wecom_external_userid``; each value belongs to one profile. Before a batch
is written, ``IdentityResolver.settle`` decides for each row carrying one:

- an event without external_id goes to the profile holding one of its identifiers (unionid first,
  then openid, then the WeCom id, ``IDENTIFIER_FIELDS``); when none does, a *provisional* profile
  is created for it, its external_id made from the identifier (``wechat-unionid:…``);
- a row with an external_id whose identifier a provisional profile holds takes that profile over:
  the provisional profile is renamed to the row's external_id when no profile has it yet, else
  merged into the profile that has it (``profiles.services.merge``);
- a row whose identifier belongs to a profile with another, real external_id is refused with the
  name of that profile: merge the two profiles, or correct the row.

An event fills in the identifiers its profile lacks (it never replaces one); a profile row writes
them like its other fields, in the upsert. Rows without identifiers are not looked at.
"""

import re
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.errors import coded
from profiles.ingest.rows import RowInvalid
from profiles.models import IDENTIFIER_FIELDS, Profile

IDENTIFIERS = IDENTIFIER_FIELDS
# The external_id of a provisional profile: the prefix of the identifier it was made from.
PROVISIONAL_PREFIXES = {
    "wechat_unionid": "wechat-unionid:",
    "wechat_openid": "wechat-openid:",
    "wecom_external_userid": "wecom:",
}
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PER_QUERY = 900  # values per IN list: under SQLite's oldest limit of 999 parameters

ERROR_IDENTIFIER = coded(
    "import.identifier",
    gettext_noop("{column} {value!r} is not an identifier (letters, digits, - and _ only)"),
)
ERROR_IDENTIFIER_TAKEN = coded(
    "import.identifier_taken",
    gettext_noop(
        "{column} {value!r} belongs to profile {owner!r}; merge the two profiles or correct the row"
    ),
)


def parse_identifier(value: str, column: str) -> str:
    """Return a WeChat or WeCom identifier as given, or raise RowInvalid naming the column."""
    if not _IDENTIFIER.fullmatch(value):
        raise RowInvalid(ERROR_IDENTIFIER, column=column, value=value)
    return value


def provisional(external_id: str) -> bool:
    """Return whether ``external_id`` names a profile made from an identifier alone."""
    return external_id.startswith(tuple(PROVISIONAL_PREFIXES.values()))


def row_identifiers(row: dict) -> dict[str, str]:
    """Return the identifiers a cleaned row carries, in the order stitching trusts them."""
    return {name: row[name] for name in IDENTIFIERS if row.get(name)}


@dataclass
class _Plan:
    """What one batch changes before it is written."""

    renames: dict[str, str] = field(default_factory=dict)  # provisional external_id → real one
    merges: list[tuple[str, str]] = field(default_factory=list)  # (provisional, kept)
    creations: dict[str, dict] = field(default_factory=dict)  # external_id → identifiers
    fills: dict[str, dict] = field(default_factory=dict)  # external_id → identifiers it lacks


class _Known:
    """The profiles a batch's rows name, by external_id and by identifier."""

    def __init__(self, rows: list[dict]):
        wanted = {name: set() for name in ("external_id", *IDENTIFIERS)}
        for row in rows:
            for name, value in row_identifiers(row).items():
                wanted[name].add(value)
            if row["external_id"]:
                wanted["external_id"].add(row["external_id"])
        self.profiles: dict[str, dict] = {}  # external_id → its identifiers
        self.owners: dict[tuple[str, str], str] = {}  # (identifier, value) → external_id
        columns = ("pk", "external_id", *IDENTIFIERS)
        for name, values in wanted.items():
            values = sorted(values)
            for start in range(0, len(values), _PER_QUERY):
                chunk = Q(**{f"{name}__in": values[start : start + _PER_QUERY]})
                for found in Profile.objects.filter(chunk).order_by("pk").values(*columns):
                    self._add(found)

    def _add(self, found: dict) -> None:
        external_id = found["external_id"]
        self.profiles[external_id] = {name: found[name] for name in IDENTIFIERS}
        for name in IDENTIFIERS:
            if found[name]:  # the oldest profile wins where a non-unique value is shared
                self.owners.setdefault((name, found[name]), external_id)

    def owner(self, identifiers: dict[str, str]) -> str | None:
        for name, value in identifiers.items():
            if (found := self.owners.get((name, value))) is not None:
                return found
        return None

    def move(self, old: str, new: str) -> None:
        """Note that the profile ``old`` is now (or is merged into) ``new``."""
        held = self.profiles.pop(old, {})
        kept = self.profiles.setdefault(new, dict.fromkeys(IDENTIFIERS, ""))
        for name, value in held.items():
            if value and not kept[name]:
                kept[name] = value
        for key, owner in self.owners.items():
            if owner == old:
                self.owners[key] = new


class IdentityResolver:
    """Settle, batch by batch, which profile each row with identifiers is (see the module)."""

    def __init__(self, *, events: bool):
        self.events = events
        self.profiles_created = 0

    def settle(self, rows: list[tuple[int, dict]]) -> list[tuple[int, RowInvalid]]:
        """Give each (position, cleaned row) its profile's external_id and make the profiles
        the rows need; return the rows refused, each with its error."""
        rows = [(position, row) for position, row in rows if row_identifiers(row)]
        if not rows:
            return []
        known = _Known([row for _position, row in rows])
        plan, refused = _Plan(), []
        for position, row in rows:
            try:
                self._settle_row(row, known, plan)
            except RowInvalid as exc:
                refused.append((position, exc))
        self._apply(plan)
        return refused

    def _settle_row(self, row: dict, known: _Known, plan: _Plan) -> None:
        identifiers = row_identifiers(row)
        external_id = row["external_id"]
        if not external_id:
            external_id = known.owner(identifiers) or _provisional_id(identifiers)
            row["external_id"] = external_id
        for name, value in identifiers.items():
            owner = known.owners.get((name, value))
            if owner is None or owner == external_id:
                continue
            if not provisional(owner):
                raise RowInvalid(ERROR_IDENTIFIER_TAKEN, column=name, value=value, owner=owner)
            if external_id in known.profiles or external_id in plan.creations:
                plan.merges.append((owner, external_id))
            else:
                plan.renames[owner] = external_id
            known.move(owner, external_id)
        if self.events:
            self._plan_fill(external_id, identifiers, known, plan)
        else:  # the upsert writes them; later rows of the batch find the profile by them
            for name, value in identifiers.items():
                known.owners[(name, value)] = external_id

    def _plan_fill(self, external_id: str, identifiers: dict, known: _Known, plan: _Plan) -> None:
        """Give the event's profile the identifiers it lacks (create it when nobody has it)."""
        held = known.profiles.get(external_id)
        if held is None:
            held = known.profiles[external_id] = dict.fromkeys(IDENTIFIERS, "")
            plan.creations[external_id] = {}
        written = plan.creations.get(external_id)
        if written is None:
            written = plan.fills.setdefault(external_id, {})
        for name, value in identifiers.items():
            if held[name] or (name, value) in known.owners:
                continue  # never replace an identifier, never take another profile's
            held[name] = written[name] = value
            known.owners[(name, value)] = external_id

    def _apply(self, plan: _Plan) -> None:
        from profiles.services.merge import profile_merge  # services build on ingest

        with transaction.atomic():
            if plan.creations:
                now = timezone.now()
                made = Profile.objects.bulk_create(
                    [
                        Profile(external_id=external_id, created_at=now, updated_at=now, **held)
                        for external_id, held in sorted(plan.creations.items())
                    ],
                    ignore_conflicts=True,
                )
                self.profiles_created += len(made)
            for old, new in plan.renames.items():
                Profile.objects.filter(external_id=old).update(
                    external_id=new, updated_at=timezone.now()
                )
            for old, new in plan.merges:
                source = Profile.objects.filter(external_id=old).first()
                target = Profile.objects.filter(external_id=new).first()
                if source is not None and target is not None:
                    profile_merge(source=source, target=target)
            for external_id, identifiers in plan.fills.items():
                for name, value in identifiers.items():
                    Profile.objects.filter(external_id=external_id, **{name: ""}).update(
                        **{name: value}
                    )


def _provisional_id(identifiers: dict[str, str]) -> str:
    name, value = next(iter(identifiers.items()))
    return PROVISIONAL_PREFIXES[name] + value
