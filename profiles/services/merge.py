"""Merge one profile into another: move its rows, fill gaps, record the merge, delete it.

Rows are moved by "movers": keyword-only callables ``mover(*, source, target) -> int`` that move
(or fold) the source's rows of one kind to the target and return how many they touched. Other
apps register theirs under a name, e.g. in their ``AppConfig.ready()``::

    from profiles.services.merge import merge_mover

    merge_mover("segment_memberships")(membership_move)

Each mover's count is recorded in ``ProfileMerge.moved`` under its name. Rows of another app that
no mover handles are deleted with the source when their foreign key cascades.
"""

import json
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Least
from django.utils.translation import gettext_lazy as _

from core.fields import MERGE_FILLED_FIELDS
from profiles.models import Event, Gender, PrivacyRequest, Profile, ProfileMerge, ProfileTag
from profiles.services.consent import consent_records_move

ERROR_MERGE_INTO_ITSELF = _("A profile cannot be merged into itself; choose another profile.")

# Declared fields filled on the target from the source when the target's is empty.
FILLED_FIELDS = MERGE_FILLED_FIELDS
_EMPTY = (None, "", Gender.UNKNOWN)
UNIQUE_IDENTIFIERS = ("wechat_unionid",)  # Profile's partial unique constraint

Mover = Callable[..., int]
MOVERS: dict[str, Mover] = {}


def merge_mover(name: str) -> Callable[[Mover], Mover]:
    """Register ``mover(*, source, target) -> int`` to run on every merge, counted as ``name``."""

    def register(mover: Mover) -> Mover:
        MOVERS[name] = mover
        return mover

    return register


@merge_mover("events")
def _events_move(*, source: Profile, target: Profile) -> int:
    return Event.objects.filter(profile=source).update(profile=target)


@merge_mover("tags")
def _tags_move(*, source: Profile, target: Profile) -> int:
    """Move the source's tags; where both carry a tag, keep the target's row, earliest set_at."""
    shared = ProfileTag.objects.filter(
        profile=source, tag_id__in=ProfileTag.objects.filter(profile=target).values("tag_id")
    )
    earlier = ProfileTag.objects.filter(profile=source, tag_id=OuterRef("tag_id")).values("set_at")
    ProfileTag.objects.filter(profile=target, tag_id__in=shared.values("tag_id")).update(
        set_at=Least("set_at", Subquery(earlier[:1]))
    )
    folded, _by_model = shared.delete()
    return folded + ProfileTag.objects.filter(profile=source).update(profile=target)


merge_mover("consents")(consent_records_move)


@merge_mover("privacy_requests")
def _privacy_requests_move(*, source: Profile, target: Profile) -> int:
    return PrivacyRequest.objects.filter(profile=source).update(profile=target)


@merge_mover("merges")
def _merges_move(*, source: Profile, target: Profile) -> int:
    """Point earlier merges into the source at the target, so the chain stays followable."""
    return ProfileMerge.objects.filter(target=source).update(target=target)


def profile_snapshot(*, profile: Profile) -> dict:
    """Return the profile's stored fields as JSON-serialisable data."""
    fields = {f.attname: f.value_from_object(profile) for f in Profile._meta.concrete_fields}
    fields["phone"] = str(profile.phone or "")
    return json.loads(json.dumps(fields, cls=DjangoJSONEncoder))


def profile_merge(*, source: Profile, target: Profile, user=None) -> ProfileMerge:
    """Merge ``source`` into ``target`` in one transaction and delete ``source``.

    Moves every kind of row a mover handles, fills the target's empty core fields from the
    source, merges traits (the target wins on conflicts) and records a ProfileMerge with the
    counts moved and a snapshot of the source's fields. Computed features are left to the next
    feature refresh.
    """
    if source.pk == target.pk:
        raise ValidationError(ERROR_MERGE_INTO_ITSELF, code="merge_into_itself")
    with transaction.atomic():
        # Lock both rows in a fixed order so that two crossing merges cannot deadlock.
        list(
            Profile.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")
        )
        source.refresh_from_db()
        target.refresh_from_db()
        snapshot = profile_snapshot(profile=source)
        moved = {name: mover(source=source, target=target) for name, mover in MOVERS.items()}
        for field in FILLED_FIELDS:
            if getattr(target, field) in _EMPTY and getattr(source, field) not in _EMPTY:
                setattr(target, field, getattr(source, field))
        target.traits = {**(source.traits or {}), **(target.traits or {})}
        # A unionid belongs to one profile: the source gives it up before the target takes it.
        Profile.objects.filter(pk=source.pk).update(**dict.fromkeys(UNIQUE_IDENTIFIERS, ""))
        target.save()
        merge = ProfileMerge.objects.create(
            source_external_id=source.external_id,
            target=target,
            target_external_id=target.external_id,
            moved=moved,
            source_snapshot=snapshot,
            merged_by=user if user is not None and user.is_authenticated else None,
        )
        source.delete()
    return merge
