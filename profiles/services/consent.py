"""Record consent in the append-only ledger and answer "may we send C for P to these profiles?".

Every write goes through ``consent_record`` / ``consent_record_many``: each inserts ledger rows and,
in the same transaction, brings ``ConsentState`` (the latest record per profile, channel and
purpose, by ``recorded_at`` then id) up to date. Reads never look at the ledger: they ask the state
table, one indexed EXISTS per audience (``consent_granted_q``), whatever the audience's size.

Personalised profiling (PIPL art. 24): a profile whose latest ``profiling`` record is withdrawn or
denied is left out of behaviour-based targeting: ``profiling_allowed_q`` is false for it, and the
segment compiler adds that condition to every rule that looks at behaviour (events, tags or the
computed features), so such a profile is in no segment built on what it did, and no campaign
reaches it through one. Rules on declared attributes (city, signup date, ...) and consent still
match it. Without any profiling record a profile is not excluded (PIPL art. 24 asks for a way to
refuse, which withdrawal is).
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from profiles.models import (
    ConsentChannel,
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Profile,
)

ERROR_UNKNOWN_CHANNEL = _("Unknown channel “%(value)s”: use one of %(choices)s.")
ERROR_UNKNOWN_PURPOSE = _("Unknown purpose “%(value)s”: use one of %(choices)s.")
ERROR_UNKNOWN_STATUS = _("Unknown status “%(value)s”: use one of %(choices)s.")
ERROR_UNKNOWN_SOURCE = _("Unknown source “%(value)s”: use one of %(choices)s.")
ERROR_FUTURE = _("A consent cannot be given in the future (%(value)s).")
ERROR_REASON_REQUIRED = _("Say why you are recording this consent: a reason is required.")


def consent_purposes() -> list[tuple[str, str]]:
    """Return the purposes as (value, label): the built-in ones, then CONSENT_EXTRA_PURPOSES."""
    extra = [(slug, label) for slug, label in settings.CONSENT_EXTRA_PURPOSES.items()]
    return list(ConsentPurpose.choices) + extra


@dataclass(frozen=True)
class ConsentEntry:
    """One consent to record, as read from a form, a CSV row or an API call."""

    profile_id: int
    channel: str
    purpose: str
    status: str
    source: str
    recorded_at: datetime.datetime | None = None
    notice_version: str = ""
    evidence_ip: str | None = None
    evidence_user_agent: str = ""
    evidence: str = ""
    reason: str = ""


def consent_entry_check(entry: ConsentEntry, *, now: datetime.datetime | None = None) -> None:
    """Raise ValidationError (keyed by field) when an entry cannot be recorded as it is."""
    errors = {}
    for field, value, choices, message in (
        ("channel", entry.channel, ConsentChannel.choices, ERROR_UNKNOWN_CHANNEL),
        ("purpose", entry.purpose, consent_purposes(), ERROR_UNKNOWN_PURPOSE),
        ("status", entry.status, ConsentStatus.choices, ERROR_UNKNOWN_STATUS),
        ("source", entry.source, ConsentSource.choices, ERROR_UNKNOWN_SOURCE),
    ):
        if value not in {key for key, _label in choices}:
            allowed = ", ".join(key for key, _label in choices)
            errors[field] = message % {"value": value, "choices": allowed}
    limit = (now or timezone.now()) + datetime.timedelta(minutes=5)  # clock skew of a client
    if entry.recorded_at is not None and entry.recorded_at > limit:
        errors["recorded_at"] = ERROR_FUTURE % {"value": entry.recorded_at.isoformat()}
    if entry.source == ConsentSource.ADMIN and not entry.reason.strip():
        errors["reason"] = ERROR_REASON_REQUIRED
    if errors:
        raise ValidationError(errors)


def consent_record(*, entry: ConsentEntry, recorded_by=None) -> ConsentRecord:
    """Append one consent record and update the current state; raise ValidationError if invalid."""
    return consent_record_many(entries=[entry], recorded_by=recorded_by)[0]


def consent_record_many(
    *, entries: Iterable[ConsentEntry], recorded_by=None
) -> list[ConsentRecord]:
    """Append consent records and update the current states, all in one transaction.

    Raise ValidationError (nothing written) if any entry is invalid; callers that must keep the
    good rows of a file check each entry with ``consent_entry_check`` first.
    """
    now = timezone.now()
    entries = list(entries)
    for entry in entries:
        consent_entry_check(entry, now=now)
    records = [
        ConsentRecord(
            profile_id=entry.profile_id,
            channel=entry.channel,
            purpose=entry.purpose,
            status=entry.status,
            source=entry.source,
            recorded_at=entry.recorded_at or now,
            notice_version=entry.notice_version,
            evidence_ip=entry.evidence_ip or None,
            evidence_user_agent=entry.evidence_user_agent[:500],
            evidence=entry.evidence,
            reason=entry.reason,
            recorded_by=recorded_by,
        )
        for entry in entries
    ]
    with transaction.atomic():
        records = ConsentRecord.objects.bulk_create(records)
        if not all(record.pk for record in records):  # databases that return no ids
            raise RuntimeError("bulk_create returned no primary keys")
        consent_states_refresh(profile_ids={record.profile_id for record in records})
    return records


def consent_states_refresh(*, profile_ids: Iterable[int]) -> None:
    """Rewrite the current states of these profiles from their latest ledger rows."""
    profile_ids = sorted(set(profile_ids))
    for start in range(0, len(profile_ids), 500):
        chunk = profile_ids[start : start + 500]
        # Lock the profiles so two concurrent writers for one profile serialise here.
        list(Profile.objects.select_for_update().filter(pk__in=chunk).values_list("pk", flat=True))
        newer = ConsentRecord.objects.filter(
            profile_id=OuterRef("profile_id"),
            channel=OuterRef("channel"),
            purpose=OuterRef("purpose"),
        ).filter(
            Q(recorded_at__gt=OuterRef("recorded_at"))
            | Q(recorded_at=OuterRef("recorded_at"), pk__gt=OuterRef("pk"))
        )
        latest = (
            ConsentRecord.objects.filter(profile_id__in=chunk)
            .filter(~Exists(newer))
            .values_list("pk", "profile_id", "channel", "purpose", "status", "recorded_at")
        )
        ConsentState.objects.filter(profile_id__in=chunk).delete()
        ConsentState.objects.bulk_create(
            ConsentState(
                record_id=pk,
                profile_id=profile_id,
                channel=channel,
                purpose=purpose,
                status=status,
                recorded_at=recorded_at,
            )
            for pk, profile_id, channel, purpose, status, recorded_at in latest
        )


def consent_granted_q(*, channel: str, purpose: str = ConsentPurpose.MARKETING) -> Q:
    """Return the condition on Profile: the latest record for (channel, purpose) is a grant."""
    granted = ConsentState.objects.filter(
        profile=OuterRef("pk"), channel=channel, purpose=purpose, status=ConsentStatus.GRANTED
    )
    return Q(Exists(granted))


def profiling_allowed_q(*, correlated: bool = True) -> Q:
    """Return the condition on Profile: personalised profiling was not withdrawn or denied.

    ``correlated``: as NOT EXISTS, probed per profile (the planner may also join); otherwise as
    NOT IN the set of profiles that refused, hashed once (a scan of many profiles then never
    depends on the planner's estimate of how many reach it).
    """
    refused = ConsentState.objects.filter(purpose=ConsentPurpose.PROFILING).exclude(
        status=ConsentStatus.GRANTED
    )
    if not correlated:
        return ~Q(pk__in=refused.values("profile_id"))
    return ~Q(Exists(refused.filter(profile=OuterRef("pk"))))


def profiling_refused_ids() -> QuerySet:
    """Return the ids of the profiles that withdrew or denied personalised profiling."""
    return (
        ConsentState.objects.filter(purpose=ConsentPurpose.PROFILING)
        .exclude(status=ConsentStatus.GRANTED)
        .values_list("profile_id", flat=True)
        .distinct()
        .order_by()
    )


def consent_sendable(
    *, profiles: QuerySet, channel: str, purpose: str = ConsentPurpose.MARKETING
) -> QuerySet:
    """Return those of ``profiles`` we may message on ``channel`` for ``purpose`` now."""
    return profiles.filter(consent_granted_q(channel=channel, purpose=purpose))


def consent_sendable_ids(
    *, profile_ids: Iterable[int], channel: str, purpose: str = ConsentPurpose.MARKETING
) -> set[int]:
    """Return which of these profile ids we may message now (one query; for a batch of sends)."""
    return set(
        ConsentState.objects.filter(
            profile_id__in=list(profile_ids),
            channel=channel,
            purpose=purpose,
            status=ConsentStatus.GRANTED,
        ).values_list("profile_id", flat=True)
    )


def consent_current(*, profile: Profile) -> dict[tuple[str, str], ConsentState]:
    """Return a profile's current consents keyed by (channel, purpose)."""
    return {
        (state.channel, state.purpose): state
        for state in ConsentState.objects.filter(profile=profile).select_related("record")
    }


def consent_records_move(*, source: Profile, target: Profile) -> int:
    """Move a merged profile's consent records to the kept one; the latest record wins."""
    moved = ConsentRecord.objects.filter(profile=source).update(profile=target)
    ConsentState.objects.filter(profile=source).delete()
    consent_states_refresh(profile_ids=[target.pk])
    return moved
