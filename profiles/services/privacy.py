"""Answer data-subject requests: export everything stored about a profile, or erase it.

Erasure anonymises rather than deletes, so that counts, funnels and revenue stay true:

- blanked: email, phone, name, birth date, city and the WeChat/WeCom identifiers; gender becomes
  "unknown"; traits are cleared (free-form, they may hold anything); every event's properties
  are cleared (free-form too, and a key list would always miss something); tags are removed
  (interests, mindset and social attributes describe the person);
- replaced: ``external_id`` becomes ``erased-<HMAC-SHA256 of it under SECRET_KEY>``, stable and
  not reversible without the key, so a consent admin can still answer "was X erased?" by
  computing ``erased_external_id(X)``; the same placeholder replaces the identifier in the
  profile's earlier data-subject requests and merge records, whose snapshots are emptied;
- kept, as non-personal aggregates: region (province level), signup time, acquisition channel,
  event names, touchpoints, times and amounts, event idempotency keys (opaque; keeping them
  stops a re-import of an old file from bringing the events back; a key that holds the address
  is replaced by a hash of it), and the computed features;
- kept, as proof: every consent record (the ledger is append-only, and the database refuses to
  change it), with its evidence;
- traced: copies of the email address, phone number and identifiers elsewhere are removed
  (``traces``): in the profile's data-subject requests, in background jobs (payloads, results,
  messages), in every upload still waiting for its import (the person's lines are dropped), in
  every stored export holding a line of theirs (the file is deleted: its user may export again),
  and, through the erasers other apps register with ``privacy_eraser``, in their rows (the send
  ledger's addresses and errors, tracking URLs, suppressions, flow step details …).

The export holds the profile, its events, tags, merges, requests and consent records, and what
other apps register with ``privacy_export_section`` (sends, segments, stages, scores, flows).
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core.exports import exports_holding_delete
from core.fields import (
    DECLARED,
    FEATURE,
    JSON,
    PERSONAL_FIELDS,
    PROFILE_FIELD_CATALOGUE,
    PROFILE_FIELDS_BY_NAME,
    RECORD,
)
from core.models import Job
from core.uploads import uploads_lines_drop
from profiles.models import (
    IDENTIFIER_FIELDS,
    Event,
    PrivacyRequest,
    Profile,
    ProfileMerge,
    ProfileTag,
)
from profiles.services.merge import profile_snapshot
from profiles.services.traces import PersonalTraces

EXPORT_FORMAT = "profiles.export/1"
ERASED_PREFIX = "erased-"
# Fields exported under "profile" (declared and bookkeeping, traits apart) and under "features".
CORE_FIELDS = tuple(
    field.name
    for field in PROFILE_FIELD_CATALOGUE
    if field.exported and field.group in (DECLARED, RECORD) and field.type != JSON
)
FEATURE_FIELDS = tuple(
    field.name for field in PROFILE_FIELD_CATALOGUE if field.exported and field.group == FEATURE
)


ExportSection = Callable[..., Any]
EXPORT_SECTIONS: dict[str, ExportSection] = {}
Eraser = Callable[..., int]
ERASERS: dict[str, Eraser] = {}


def privacy_export_section(name: str) -> Callable[[ExportSection], ExportSection]:
    """Register ``section(*, profile) -> JSON data``, exported under ``name``."""

    def register(section: ExportSection) -> ExportSection:
        EXPORT_SECTIONS[name] = section
        return section

    return register


def privacy_eraser(name: str) -> Callable[[Eraser], Eraser]:
    """Register ``eraser(*, profile, traces) -> rows changed``, run by every erasure in its
    transaction, before the profile's fields are blanked; ``traces`` is a ``PersonalTraces``."""

    def register(eraser: Eraser) -> Eraser:
        ERASERS[name] = eraser
        return eraser

    return register


def erased_values() -> dict:
    """Return what erasure sets each personal field to: the field's default (the key apart)."""
    return {
        name: Profile._meta.get_field(name).get_default()
        for name in PERSONAL_FIELDS
        if not PROFILE_FIELDS_BY_NAME[name].key
    }


def erased_external_id(external_id: str) -> str:
    """Return the stable, non-reversible placeholder that erasure gives ``external_id``."""
    if external_id.startswith(ERASED_PREFIX):
        return external_id
    digest = salted_hmac("profiles.privacy.erase", external_id, algorithm="sha256")
    return ERASED_PREFIX + digest.hexdigest()[:32]


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def _staff(user):
    return user if user is not None and user.is_authenticated else None


def _json(data):
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False))


def _export_data(*, profile: Profile) -> dict:
    snapshot = profile_snapshot(profile=profile)
    events = profile.events.order_by("occurred_at", "pk").values(
        "name", "channel", "occurred_at", "amount", "properties", "key", "received_at"
    )
    tags = profile.profile_tags.select_related("tag__category", "set_by").order_by("tag__slug")
    merges = profile.merges_received.select_related("merged_by").order_by("merged_at", "pk")
    requests = profile.privacy_requests.select_related("requested_by").order_by("done_at", "pk")
    return _json(
        {
            "format": EXPORT_FORMAT,
            "exported_at": timezone.now(),
            "profile": {name: snapshot[name] for name in CORE_FIELDS},
            "traits": snapshot["traits"],
            "features": {name: snapshot[name] for name in FEATURE_FIELDS},
            "events": list(events),
            "tags": [
                {
                    "tag": row.tag.slug,
                    "label": row.tag.label,
                    "category": row.tag.category.slug,
                    "provenance": row.provenance,
                    "set_at": row.set_at,
                    "set_by": _username(row.set_by),
                    "expires_at": row.expires_at,
                }
                for row in tags
            ],
            "merges": [
                {
                    "merged_profile": row.source_external_id,
                    "kept_profile": row.target_external_id,
                    "moved": row.moved,
                    "merged_profile_fields": row.source_snapshot,
                    "merged_at": row.merged_at,
                    "merged_by": _username(row.merged_by),
                }
                for row in merges
            ],
            "privacy_requests": [
                {
                    "kind": row.kind,
                    "external_id": row.external_id,
                    "reason": row.reason,
                    "requested_by": _username(row.requested_by),
                    "done_at": row.done_at,
                }
                for row in requests
            ],
            **{name: section(profile=profile) for name, section in EXPORT_SECTIONS.items()},
        }
    )


@privacy_export_section("consents")
def _consents_export(*, profile: Profile) -> list[dict]:
    """Return the profile's consent ledger, oldest first, with its evidence."""
    records = profile.consent_records.select_related("recorded_by").order_by("recorded_at", "pk")
    return [
        {
            "channel": row.channel,
            "purpose": row.purpose,
            "status": row.status,
            "recorded_at": row.recorded_at,
            "source": row.source,
            "notice_version": row.notice_version,
            "evidence_ip": row.evidence_ip,
            "evidence_user_agent": row.evidence_user_agent,
            "evidence": row.evidence,
            "reason": row.reason,
            "recorded_by": _username(row.recorded_by),
            "stored_at": row.created_at,
        }
        for row in records
    ]


def profile_export(*, profile: Profile, user, reason: str = "") -> dict:
    """Record an export request and return everything stored about the profile as JSON data."""
    with transaction.atomic():
        PrivacyRequest.objects.create(
            kind=PrivacyRequest.Kind.EXPORT,
            profile=profile,
            external_id=profile.external_id,
            requested_by=_staff(user),
            reason=reason,
        )
        return _export_data(profile=profile)


def _needles_q(traces: PersonalTraces, *fields: str) -> Q:
    """Return the condition: one of ``fields`` holds one of the traces (any letter case)."""
    condition = Q()
    for needle in traces.needles:
        for name in fields:
            condition |= Q(**{f"{name}__icontains": needle})
    return condition


@privacy_eraser("events")
def _events_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    """Clear every event's properties; replace an idempotency key holding a trace by its hash."""
    changed = profile.events.exclude(properties={}).update(properties={})
    if not traces.needles:
        return changed
    for event in profile.events.filter(_needles_q(traces, "key")).only("pk", "key"):
        digest = hashlib.sha256(event.key.encode()).hexdigest()
        Event.objects.filter(pk=event.pk).update(key=f"erased:{digest}")
        changed += 1
    return changed


@privacy_eraser("privacy_requests")
def _requests_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    changed = 0
    for row in PrivacyRequest.objects.filter(profile=profile).only("pk", "reason"):
        if traces.found_in(row.reason):
            PrivacyRequest.objects.filter(pk=row.pk).update(reason=traces.scrub(row.reason))
            changed += 1
    return changed


@privacy_eraser("jobs")
def _jobs_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    """Scrub the traces from every job's payload, result, message and error."""
    if not traces.needles:
        return 0
    jobs = Job.objects.annotate(
        payload_text=Cast("payload", TextField()), result_text=Cast("result", TextField())
    ).filter(_needles_q(traces, "payload_text", "result_text", "message", "error"))
    changed = 0
    for job in jobs.only("pk", "payload", "result", "message", "error"):
        Job.objects.filter(pk=job.pk).update(
            payload=traces.scrub_json(job.payload),
            result=traces.scrub_json(job.result),
            message=traces.scrub(job.message),
            error=traces.scrub(job.error),
        )
        changed += 1
    return changed


@privacy_eraser("uploads")
def _uploads_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    """Drop the person's lines from every upload still waiting for its import."""
    return uploads_lines_drop(matches=traces.line_matches)


@privacy_eraser("exports")
def _exports_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    """Delete every stored export (a background job's file) that holds a line of the person."""
    return exports_holding_delete(matches=traces.line_matches)


def profile_traces(*, profile: Profile) -> PersonalTraces:
    """Return what identifies the profile's person in text stored elsewhere."""
    return PersonalTraces.of(
        email=profile.email,
        phone=profile.phone,
        external_id=profile.external_id,
        placeholder=erased_external_id(profile.external_id),
        identifiers=tuple(getattr(profile, name) for name in IDENTIFIER_FIELDS),
    )


def profile_erase(*, profile: Profile, user, reason: str = "") -> PrivacyRequest:
    """Anonymise the profile's personal data, keep its aggregates, and record the erasure."""
    with transaction.atomic():
        Profile.objects.select_for_update().values_list("pk").get(pk=profile.pk)
        profile.refresh_from_db()
        placeholder = erased_external_id(profile.external_id)
        traces = profile_traces(profile=profile)
        for eraser in ERASERS.values():
            eraser(profile=profile, traces=traces)
        for field, value in erased_values().items():
            setattr(profile, field, value)
        profile.external_id = placeholder
        profile.save()
        ProfileTag.objects.filter(profile=profile).delete()
        for merge in ProfileMerge.objects.filter(target=profile):
            merge.source_external_id = erased_external_id(merge.source_external_id)
            merge.target_external_id = erased_external_id(merge.target_external_id)
            merge.source_snapshot = {}
            merge.save(
                update_fields=["source_external_id", "target_external_id", "source_snapshot"]
            )
        PrivacyRequest.objects.filter(profile=profile).update(external_id=placeholder)
        return PrivacyRequest.objects.create(
            kind=PrivacyRequest.Kind.ERASE,
            profile=profile,
            external_id=placeholder,
            requested_by=_staff(user),
            reason=traces.scrub(reason),
        )
