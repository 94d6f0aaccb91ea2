"""Manage the tag taxonomy and put tags on (or take them off) many profiles at once."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import slug_re, slug_unicode_re
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.bulk import pk_chunks
from core.models import Job
from core.services import JobReporter, job_enqueue
from profiles.models import Profile, ProfileTag, Provenance, Tag, TagCategory
from profiles.selectors import profile_filter, tag_profile_count
from profiles.sql import profile_tags_insert

JOB_KIND_BULK = "profiles.tags_bulk"
ACTION_ADD = "add"
ACTION_REMOVE = "remove"
# Selections larger than this run as a background job; smaller ones run in the request.
BULK_INLINE_LIMIT = 50_000
# Profiles written per statement, so a huge selection never sits in memory or in one statement.
BULK_CHUNK_SIZE = 20_000
DEFAULT_COLOUR = "#6c757d"

ERROR_LABEL_REQUIRED = _("Give a label.")
ERROR_SLUG_REQUIRED = _("Give a slug.")
ERROR_SLUG_TOO_LONG = _("Keep the slug to {limit} characters or fewer.")
ERROR_CATEGORY_SLUG_INVALID = _(
    "Use only Latin letters, digits, hyphens and underscores in the slug, e.g. “interests”."
)
ERROR_TAG_SLUG_INVALID = _(
    "Use only letters (any script), digits, hyphens and underscores in the slug, "
    "e.g. “coupon-lover” or “咖啡爱好者”."
)
ERROR_CATEGORY_SLUG_TAKEN = _("The slug “{slug}” is already used by another category.")
ERROR_TAG_SLUG_TAKEN = _("The slug “{slug}” is already used by another tag.")
ERROR_COLOUR_INVALID = _("Give the colour as # followed by six hexadecimal digits, e.g. #2563eb.")
ERROR_TAG_IN_USE = _(
    "{count} profiles still carry this tag. Remove it from them first, or confirm deleting it "
    "from every profile."
)
ERROR_EXPIRY_PAST = _("Choose an expiry in the future.")
ERROR_PROVENANCE_UNKNOWN = _("Unknown provenance “{provenance}”.")
ERROR_ACTION_UNKNOWN = _("Unknown action “{action}”: use add or remove.")

_COLOUR_RE = re.compile(r"^#[0-9a-f]{6}$")
_CATEGORY_SLUG_MAX = TagCategory._meta.get_field("slug").max_length
_TAG_SLUG_MAX = Tag._meta.get_field("slug").max_length


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk tag change did: how many profiles matched, how many changed, or its job."""

    matched: int
    changed: int | None = None
    job: Job | None = None


def _slug_errors(slug: str, *, pattern: re.Pattern, invalid, limit: int) -> list:
    if not slug:
        return [ERROR_SLUG_REQUIRED]
    if len(slug) > limit:
        return [ERROR_SLUG_TOO_LONG.format(limit=limit)]
    if not pattern.match(slug):
        return [invalid]
    return []


def _save(instance, errors: dict[str, list], *, slug_field_error) -> None:
    """Validate the rest of ``instance`` and save it, or undo its changes and raise every error."""
    try:
        instance.full_clean(exclude=list(errors), validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    try:
        if errors:
            raise ValidationError(errors)
        try:
            with transaction.atomic():
                instance.save()
        except IntegrityError:  # a concurrent save took the slug between check and write
            raise ValidationError({"slug": [slug_field_error]}) from None
    except ValidationError:
        if instance.pk:
            instance.refresh_from_db()
        raise


def _category_save(*, category: TagCategory, slug, label, description, position) -> TagCategory:
    slug, label = slug.strip().lower(), label.strip()
    errors: dict[str, list] = {}
    if slug_errors := _slug_errors(
        slug, pattern=slug_re, invalid=ERROR_CATEGORY_SLUG_INVALID, limit=_CATEGORY_SLUG_MAX
    ):
        errors["slug"] = slug_errors
    elif TagCategory.objects.filter(slug=slug).exclude(pk=category.pk).exists():
        errors["slug"] = [ERROR_CATEGORY_SLUG_TAKEN.format(slug=slug)]
    if not label:
        errors["label"] = [ERROR_LABEL_REQUIRED]
    category.slug, category.label = slug, label
    category.description, category.position = description.strip(), position
    _save(category, errors, slug_field_error=ERROR_CATEGORY_SLUG_TAKEN.format(slug=slug))
    return category


def tag_category_create(
    *, slug: str, label: str, description: str = "", position: int = 0
) -> TagCategory:
    """Create a category of the tag taxonomy, or raise ValidationError naming each bad field."""
    return _category_save(
        category=TagCategory(),
        slug=slug,
        label=label,
        description=description,
        position=position,
    )


def tag_category_update(
    *, category: TagCategory, slug: str, label: str, description: str = "", position: int = 0
) -> TagCategory:
    """Change a category, or raise ValidationError naming each bad field and change nothing."""
    return _category_save(
        category=category, slug=slug, label=label, description=description, position=position
    )


def _tag_save(*, tag: Tag, category, slug, label, description, colour) -> Tag:
    slug, label, colour = slug.strip().lower(), label.strip(), colour.strip().lower()
    errors: dict[str, list] = {}
    if slug_errors := _slug_errors(
        slug, pattern=slug_unicode_re, invalid=ERROR_TAG_SLUG_INVALID, limit=_TAG_SLUG_MAX
    ):
        errors["slug"] = slug_errors
    elif Tag.objects.filter(slug=slug).exclude(pk=tag.pk).exists():
        errors["slug"] = [ERROR_TAG_SLUG_TAKEN.format(slug=slug)]
    if not label:
        errors["label"] = [ERROR_LABEL_REQUIRED]
    if not _COLOUR_RE.match(colour):
        errors["colour"] = [ERROR_COLOUR_INVALID]
    tag.category, tag.slug, tag.label = category, slug, label
    tag.description, tag.colour = description.strip(), colour
    _save(tag, errors, slug_field_error=ERROR_TAG_SLUG_TAKEN.format(slug=slug))
    return tag


def tag_create(
    *,
    category: TagCategory,
    slug: str,
    label: str,
    description: str = "",
    colour: str = DEFAULT_COLOUR,
) -> Tag:
    """Create a tag in ``category``, or raise ValidationError naming each bad field."""
    return _tag_save(
        tag=Tag(), category=category, slug=slug, label=label, description=description, colour=colour
    )


def tag_update(
    *,
    tag: Tag,
    category: TagCategory,
    slug: str,
    label: str,
    description: str = "",
    colour: str = DEFAULT_COLOUR,
) -> Tag:
    """Change a tag, or raise ValidationError naming each bad field and change nothing."""
    return _tag_save(
        tag=tag, category=category, slug=slug, label=label, description=description, colour=colour
    )


def tag_delete(*, tag: Tag, force: bool = False) -> int:
    """Delete a tag and return how many profiles lost it; refuse while profiles carry it."""
    carried = tag_profile_count(tag=tag)
    if carried and not force:
        raise ValidationError(ERROR_TAG_IN_USE.format(count=carried))
    with transaction.atomic():
        removed, _by_model = ProfileTag.objects.filter(tag=tag).delete()
        tag.delete()
    return removed


def _check_tag_values(*, provenance: str, expires_at: datetime | None) -> None:
    if provenance not in Provenance.values:
        raise ValidationError(ERROR_PROVENANCE_UNKNOWN.format(provenance=provenance))
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": [ERROR_EXPIRY_PAST]})


def profiles_tag(
    *,
    profiles_qs: QuerySet[Profile],
    tag: Tag,
    user,
    provenance: str = Provenance.MANUAL,
    expires_at: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Put ``tag`` on every profile in ``profiles_qs`` and return how many newly carry it.

    Profiles that already carry the tag keep their row as it is. The work is done by the
    database, chunk by chunk, so no profile is loaded into memory.
    """
    _check_tag_values(provenance=provenance, expires_at=expires_at)
    values = {
        "tag": tag.pk,
        "provenance": str(provenance),
        "set_at": timezone.now(),
        "set_by": user.pk if user is not None and user.is_authenticated else None,
        "expires_at": expires_at,
    }
    added = done = 0
    for chunk, full in pk_chunks(profiles_qs, BULK_CHUNK_SIZE):
        added += profile_tags_insert(chunk, values)
        done += BULK_CHUNK_SIZE if full else 0
        if progress:
            progress(done)
    return added


def profiles_untag(
    *,
    profiles_qs: QuerySet[Profile],
    tag: Tag,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Take ``tag`` off every profile in ``profiles_qs`` and return how many lost it."""
    removed = done = 0
    for chunk, full in pk_chunks(profiles_qs, BULK_CHUNK_SIZE):
        ids = chunk.order_by().values("pk")
        removed += ProfileTag.objects.filter(tag=tag, profile__in=ids).delete()[0]
        done += BULK_CHUNK_SIZE if full else 0
        if progress:
            progress(done)
    return removed


def profile_tags_expire(*, now: datetime | None = None) -> int:
    """Delete the profile tags whose expiry has passed and return how many were deleted."""
    now = now or timezone.now()
    return ProfileTag.objects.filter(expires_at__lte=now).delete()[0]


def _apply(*, action: str, tag: Tag, filters: dict, user, expires_at, progress=None) -> int:
    profiles_qs = profile_filter(**filters)
    if action == ACTION_ADD:
        return profiles_tag(
            profiles_qs=profiles_qs, tag=tag, user=user, expires_at=expires_at, progress=progress
        )
    return profiles_untag(profiles_qs=profiles_qs, tag=tag, progress=progress)


def tag_bulk_apply(
    *, tag: Tag, action: str, filters: dict, user, expires_at: datetime | None = None
) -> BulkOutcome:
    """Add or remove ``tag`` on the filtered profiles: inline when few, as a job when many."""
    if action not in (ACTION_ADD, ACTION_REMOVE):
        raise ValidationError(ERROR_ACTION_UNKNOWN.format(action=action))
    if action == ACTION_ADD:
        _check_tag_values(provenance=Provenance.MANUAL, expires_at=expires_at)
    matched = profile_filter(**filters).count()
    if matched > BULK_INLINE_LIMIT:
        payload = {
            "action": action,
            "tag_id": tag.pk,
            "filters": filters,
            "expires_at": expires_at.isoformat() if expires_at else None,
        }
        job = job_enqueue(kind=JOB_KIND_BULK, payload=payload, user=user, total=matched)
        return BulkOutcome(matched=matched, job=job)
    changed = _apply(action=action, tag=tag, filters=filters, user=user, expires_at=expires_at)
    return BulkOutcome(matched=matched, changed=changed)


def tag_bulk_job(*, job: Job, report: JobReporter) -> dict:
    """Run a queued bulk tag change, reporting progress after each chunk."""
    payload = job.payload
    tag = Tag.objects.get(pk=payload["tag_id"])
    expires_at = payload.get("expires_at")
    total = job.total

    def progress(done: int) -> None:
        report(min(done, total) if total else done, total)

    changed = _apply(
        action=payload["action"],
        tag=tag,
        filters=payload["filters"],
        user=job.created_by,
        expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
        progress=progress,
    )
    return {"action": payload["action"], "tag": tag.slug, "changed": changed}
