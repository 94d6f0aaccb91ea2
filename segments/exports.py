"""The export of a segment's members (``/segments/<slug>/members.csv`` and ``/exports/``)."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.roles import OPS
from profiles.exports import (
    ExportError,
    ExportKind,
    ExportTable,
    contact_shown,
    label_of,
    queryset_counter,
    rows_shown,
)
from profiles.models import ValueTier
from segments.models import Segment

ERROR_NO_SEGMENT = _("No segment has the slug “%(slug)s”.")

# The first three columns are those the member CSV always had, in that order.
MEMBER_COLUMNS = (
    ("external_id", _("External ID")),
    ("email", _("Email")),
    ("since", _("Member since")),
    ("name", pgettext_lazy("person", "Name")),
    ("phone", _("Phone")),
    ("city", _("City")),
    ("value_tier", _("Value tier")),
    ("last_seen_at", _("Last seen")),
)


def members_table(*, user, params: dict) -> ExportTable:
    """Return the members of the segment ``params["segment"]`` in membership order, contact
    data masked unless ``user`` sees it in full."""
    slug = params.get("segment", "")
    segment = Segment.objects.filter(slug=slug).first()
    if segment is None:
        raise ExportError(ERROR_NO_SEGMENT % {"slug": slug})
    memberships = segment.memberships.order_by("pk")
    keys = [key for key, _label in MEMBER_COLUMNS]
    fields = [key if key == "since" else f"profile__{key}" for key in keys]
    shown = {**contact_shown(user), "value_tier": label_of(ValueTier.choices)}
    rows = rows_shown(memberships.values_list(*fields).iterator(chunk_size=5000), keys, shown)
    return ExportTable(
        name=f"segment-{segment.slug}-members",
        title=str(segment.name),
        what=f"segment {segment.slug} members",
        columns=MEMBER_COLUMNS,
        rows=rows,
        counter=queryset_counter(memberships),
        source=segment,
    )


EXPORT_KINDS = (
    ExportKind(name="segment-members", roles=(OPS,), build=members_table, params=("segment",)),
)
