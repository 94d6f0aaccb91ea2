"""Rule-based tags: a tag bound to a segment is carried, with provenance "rule", by its members."""

from django.db import transaction

from profiles.models import Profile, ProfileTag, Provenance, Tag
from profiles.services.tags import profiles_tag
from segments.models import Segment, SegmentMembership, SegmentTransition


def _rule_tags_add(*, tag_id: int, profiles_qs) -> int:
    """Tag ``profiles_qs`` with provenance rule; profiles already carrying the tag keep it."""
    return profiles_tag(
        profiles_qs=profiles_qs, tag=Tag(pk=tag_id), user=None, provenance=Provenance.RULE
    )


def _rule_tags_remove(*, tag_id: int, profile_ids) -> int:
    """Delete the rule-provenance rows of the tag for ``profile_ids``; other provenances stay."""
    return ProfileTag.objects.filter(
        tag_id=tag_id, provenance=Provenance.RULE, profile_id__in=profile_ids
    ).delete()[0]


def segment_tag_sync(*, segment: Segment, version: int) -> tuple[int, int]:
    """Apply the bound tag to the transitions of ``version``; return (tagged, untagged).

    Profiles that entered in that version get the tag with provenance "rule" (a profile that
    already carries it, manually or otherwise, keeps its row); profiles that left lose the
    rule-provenance row only. Both are single set-based statements (the insert in chunks).
    """
    if not segment.tag_id:
        return 0, 0
    moved = SegmentTransition.objects.filter(segment_id=segment.pk, version=version)
    entered = moved.filter(entered=True).values("profile_id")
    left = moved.filter(entered=False).values("profile_id")
    untagged = _rule_tags_remove(tag_id=segment.tag_id, profile_ids=left)
    tagged = _rule_tags_add(
        tag_id=segment.tag_id, profiles_qs=Profile.objects.filter(pk__in=entered)
    )
    return tagged, untagged


def segment_tag_bind(*, segment: Segment, tag: Tag | None) -> Segment:
    """Bind ``tag`` to the segment (None unbinds) and bring the current members in line.

    The rule-provenance rows of the previously bound tag are removed from the members; the
    new tag is put on every current member with provenance "rule". Later evaluations and static
    list changes keep it in step through ``segment_tag_sync``.
    """
    new_id = tag.pk if tag is not None else None
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        if segment.tag_id == new_id:
            return segment
        members = SegmentMembership.objects.filter(segment_id=segment.pk).values("profile_id")
        if segment.tag_id:
            _rule_tags_remove(tag_id=segment.tag_id, profile_ids=members)
        Segment.objects.filter(pk=segment.pk).update(tag_id=new_id)
        if new_id:
            _rule_tags_add(tag_id=new_id, profiles_qs=Profile.objects.filter(pk__in=members))
    segment.tag_id = new_id
    return segment
