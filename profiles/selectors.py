"""Reads about profiles and events used by pages, the API and other apps."""

import contextlib
import functools
import operator
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from profiles.models import IDENTIFIER_FIELDS, Event, Profile, ProfileTag, Tag, TagCategory
from profiles.places import city_spellings


def profile_totals(*, days: int = 30) -> dict[str, int]:
    """Return the number of profiles, new ones and active ones over the last ``days`` days."""
    since = timezone.now() - timedelta(days=days)
    return Profile.objects.aggregate(
        total=Count("pk"),
        new=Count("pk", filter=Q(signup_at__gte=since)),
        active=Count("pk", filter=Q(last_seen_at__gte=since)),
    )


def events_per_day(*, days: int = 30) -> list[dict]:
    """Return event counts per local day and touchpoint over the last ``days`` days."""
    since = timezone.now() - timedelta(days=days)
    return list(
        Event.objects.filter(occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "channel")
        .annotate(n=Count("pk"))
        .order_by("day", "channel")
    )


# The list sorts and filters by a prediction score through the predictions app's reverse
# relation (no import: that app sits above this one); both columns are indexed, so a sorted page
# is an index range scan from its cursor, like the default newest-first page on the primary key.
SCORE_SORTS = {"churn_risk": "prediction__churn_risk", "clv_365d": "prediction__clv_365d"}
# Every column the list sorts by: key → (what is ordered, highest first unless asked otherwise).
# Value tiers order by rank (high above mid above mass), not by their letters.
TIER_RANK = Case(
    When(value_tier="high", then=Value(3)),
    When(value_tier="mid", then=Value(2)),
    When(value_tier="mass", then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)
LIST_SORTS = {
    "external_id": ("external_id", False),
    "name": ("name", False),
    "email": ("email", False),
    "phone": ("phone", False),
    "city": ("city", False),
    "region": ("region", False),
    "value_tier": (TIER_RANK, True),
    "recency_days": ("recency_days", False),
    "frequency": ("frequency", True),
    "monetary": ("monetary", True),
    "signup_at": ("signup_at", True),
    "last_seen_at": ("last_seen_at", True),
    **{key: (field, True) for key, field in SCORE_SORTS.items()},
}


def profile_page(
    *,
    query: str = "",
    city: str = "",
    tier: str = "",
    tag: str = "",
    sort: str = "",
    descending: bool | None = None,
    churn_min: float | None = None,
    clv_min: float | None = None,
    after: str | int | None = None,
    size: int = 50,
) -> tuple[list[Profile], str | None, int]:
    """Return one keyset page of profiles, the cursor of the next page and how many match.

    Newest first by default; ``sort`` names a column of LIST_SORTS, in its own direction unless
    ``descending`` says otherwise, with empty values last ("churn_risk" and "clv_365d" list only
    the scored profiles). ``churn_min`` and ``clv_min`` keep the profiles scoring at least.
    """
    profiles = profile_filter(query=query, city=city, tier=tier, tag=tag)
    if churn_min is not None:
        profiles = profiles.filter(prediction__churn_risk__gte=churn_min)
    if clv_min is not None:
        profiles = profiles.filter(prediction__clv_365d__gte=clv_min)
    if sort in SCORE_SORTS:
        profiles = profiles.filter(**{f"{SCORE_SORTS[sort]}__isnull": False})
    total = profiles.count()
    profiles = profiles.select_related("prediction")
    if sort not in LIST_SORTS:
        return (*_page_by_pk(profiles, after, size), total)
    column, default_descending = LIST_SORTS[sort]
    descending = default_descending if descending is None else descending
    return (*_page_sorted(profiles, column, descending, after, size), total)


def _page_by_pk(profiles: QuerySet[Profile], after, size: int):
    try:
        after_pk = int(after) if after else None
    except ValueError:
        after_pk = None  # a mangled cursor shows the first page
    profiles = profiles.order_by("-pk")
    if after_pk is not None:
        profiles = profiles.filter(pk__lt=after_pk)
    page = list(profiles[: size + 1])
    next_cursor = str(page[size - 1].pk) if len(page) > size else None
    return page[:size], next_cursor


def _after(value: str, pk: int, descending: bool) -> Q:
    """Return the rows after (``value``, ``pk``) in the order, empty values last."""
    beyond = "lt" if descending else "gt"
    if value.startswith("n"):  # the cursor's row had no value: only empty values are left
        return Q(sort_value__isnull=True, **{f"pk__{beyond}": pk})
    value = value[1:]
    return (
        Q(**{f"sort_value__{beyond}": value})
        | Q(sort_value=value, **{f"pk__{beyond}": pk})
        | Q(sort_value__isnull=True)
    )


def _cursor_value(value) -> str:
    if value is None:
        return "n"
    return "v" + (value.isoformat() if hasattr(value, "isoformat") else str(value))


def _page_sorted(profiles: QuerySet[Profile], column, descending: bool, after, size: int):
    """Return a keyset page ordered by ``column`` then the primary key, the cursor
    "<v value | n>_<pk>" (a mangled one shows the first page)."""
    column = F(column) if isinstance(column, str) else column
    profiles = profiles.annotate(sort_value=column)
    order = (
        F("sort_value").desc(nulls_last=True)
        if descending
        else F("sort_value").asc(nulls_last=True)
    )
    profiles = profiles.order_by(order, "-pk" if descending else "pk")
    value, _sep, pk = str(after or "").rpartition("_")
    if value[:1] in ("v", "n") and pk.isdigit():
        with contextlib.suppress(ValueError, ValidationError):
            profiles = profiles.filter(_after(value, int(pk), descending))
    page = list(profiles[: size + 1])
    next_cursor = None
    if len(page) > size:
        last = page[size - 1]
        next_cursor = f"{_cursor_value(last.sort_value)}_{last.pk}"
    return page[:size], next_cursor


def profile_detail(*, external_id: str) -> Profile:
    """Return one profile with its tags loaded, or raise Profile.DoesNotExist."""
    return Profile.objects.prefetch_related(
        "profile_tags__tag__category",
        "profile_tags__set_by",
        "segment_memberships__segment",  # reverse relation of the segments app; no import
    ).get(external_id=external_id)


def profile_recent_events(*, profile: Profile, limit: int = 50) -> list[Event]:
    """Return the profile's most recent events, newest first."""
    return list(profile.events.order_by("-occurred_at")[:limit])


def profile_search(query: str) -> Q:
    """Return the condition for the search box: an exact id, email, phone or WeChat/WeCom
    identifier, or a name prefix.

    Exact and prefix matches use indexes, so the search stays fast at millions of profiles.
    A phone is matched in E.164 form, however it was typed.
    """
    condition = Q(external_id=query) | Q(email=query.lower()) | Q(name__startswith=query)
    if len(query) <= 64:  # an exact platform identifier (each has its index)
        condition |= functools.reduce(
            operator.or_, (Q(**{name: query}) for name in IDENTIFIER_FIELDS)
        )
    try:
        number = phonenumbers.parse(query, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return condition
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return condition | Q(phone=e164)


def _live(now: datetime, prefix: str = "") -> Q:
    """Return the condition for profile tags that have not expired at ``now``."""
    return Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": now})


def profile_filter(
    *, query: str = "", city: str = "", tier: str = "", tag: str = ""
) -> QuerySet[Profile]:
    """Return the profiles matching the profile list's filters, optionally carrying tag ``tag``."""
    profiles = Profile.objects.all()
    if query:
        profiles = profiles.filter(profile_search(query))
    if city:
        profiles = profiles.filter(city__in=city_spellings(city))  # 上海 = 上海市 = Shanghai
    if tier:
        profiles = profiles.filter(value_tier=tier)
    if tag:
        profiles = profiles.filter(carrying_tag(tag))
    return profiles


def carrying_tag(slug: str) -> Exists:
    """Return the condition for profiles carrying the tag ``slug`` (not expired)."""
    carrying = ProfileTag.objects.filter(profile=OuterRef("pk"), tag__slug=slug)
    return Exists(carrying.filter(_live(timezone.now())))


def tag_taxonomy() -> list[TagCategory]:
    """Return every category with its tags, each tag annotated with ``profile_count``."""
    counted = Tag.objects.annotate(
        profile_count=Count("profile_tags", filter=_live(timezone.now(), "profile_tags__"))
    ).order_by("slug")
    return list(TagCategory.objects.prefetch_related(Prefetch("tags", queryset=counted)))


def tag_get(*, slug: str) -> Tag:
    """Return the tag with ``slug`` and its category, or raise Tag.DoesNotExist."""
    return Tag.objects.select_related("category").get(slug=slug)


def tag_profile_count(*, tag: Tag) -> int:
    """Return how many profiles carry ``tag`` (expired or not)."""
    return ProfileTag.objects.filter(tag=tag).count()


def tags_all() -> QuerySet[Tag]:
    """Return every tag with its category, in taxonomy order."""
    return Tag.objects.select_related("category")


def profile_activity(*, profile: Profile, weeks: int = 52) -> list[dict]:
    """Return the profile's events per local week and touchpoint over the last ``weeks`` weeks."""
    since = timezone.now() - timedelta(weeks=weeks)
    return list(
        profile.events.filter(occurred_at__gte=since)
        .annotate(week=TruncWeek("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("week", "channel")
        .annotate(n=Count("pk"))
        .order_by("week", "channel")
    )


# --------------------------------------------------------------------------- consent
# (imports inside the functions: this section was appended below the module's import block)


def consent_overview(*, profile: Profile) -> list[dict]:
    """Return one row per channel and purpose with the profile's current consent (or None)."""
    from profiles.models import ConsentChannel
    from profiles.services.consent import consent_current, consent_purposes

    current = consent_current(profile=profile)
    return [
        {
            "channel": channel,
            "channel_label": channel_label,
            "purpose": purpose,
            "purpose_label": purpose_label,
            "state": current.get((channel, purpose)),
        }
        for channel, channel_label in ConsentChannel.choices
        for purpose, purpose_label in consent_purposes()
    ]


def consent_history(*, profile: Profile, limit: int = 1000) -> list:
    """Return the profile's consent ledger, newest first (by when it was given, then stored)."""
    from profiles.models import ConsentRecord

    return list(
        ConsentRecord.objects.filter(profile=profile)
        .select_related("recorded_by")
        .order_by("-recorded_at", "-id")[:limit]
    )


def _month_ends(months: int, now: datetime) -> list[datetime]:
    """Return the ends of the last ``months - 1`` whole local months, then ``now``."""
    start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    moments = []
    for back in range(months - 2, -1, -1):
        year, month = divmod(start.year * 12 + start.month - 1 - back, 12)
        moments.append(start.replace(year=year, month=month + 1))
    return [*moments, now]


def consent_rates(*, purpose: str = "marketing", months: int = 12) -> list[dict]:
    """Return, at the end of each of the last ``months`` months, the share of profiles whose
    latest ``purpose`` consent per channel was a grant.

    Rows hold ``at`` (the moment), ``channel``, ``granted`` and ``profiles`` (profiles that
    existed then). One set-based query per moment: the latest record as of that moment is the
    one with no later record for the same profile, channel and purpose up to that moment.
    """
    from profiles.models import ConsentChannel, ConsentRecord, ConsentStatus

    rows = []
    for at in _month_ends(months, timezone.now()):
        newer = ConsentRecord.objects.filter(
            profile_id=OuterRef("profile_id"),
            channel=OuterRef("channel"),
            purpose=purpose,
            recorded_at__lte=at,
        ).filter(
            Q(recorded_at__gt=OuterRef("recorded_at"))
            | Q(recorded_at=OuterRef("recorded_at"), pk__gt=OuterRef("pk"))
        )
        granted = dict(
            ConsentRecord.objects.filter(
                purpose=purpose, recorded_at__lte=at, status=ConsentStatus.GRANTED
            )
            .filter(~Exists(newer))
            .values("channel")
            .annotate(n=Count("pk"))
            .values_list("channel", "n")
        )
        profiles = Profile.objects.filter(Q(created_at__lte=at) | Q(signup_at__lte=at)).count()
        for channel in ConsentChannel.values:
            rows.append(
                {"at": at, "channel": channel, "granted": granted.get(channel, 0),
                 "profiles": profiles}
            )  # fmt: skip
    return rows


# --------------------------------------------------------------------------- dashboard


def profiles_rfm_distribution() -> list[dict]:
    """Return profile counts per value tier, R score and F score (one grouped scan).

    Rows hold ``value_tier`` ("" before features are computed), ``r_score``, ``f_score`` (None
    without purchases) and ``n``; sum them by tier or by scores.
    """
    return list(
        Profile.objects.order_by()
        .values("value_tier", "r_score", "f_score")
        .annotate(n=Count("pk"))
    )


def tag_coverage(*, limit: int = 15) -> dict:
    """Return the most carried tags (live ones) and how many profiles carry any tag.

    ``tags`` rows hold ``slug``, ``label``, ``category`` and ``n`` (profiles), most carried first;
    ``tagged`` is the number of distinct profiles carrying at least one live tag.
    """
    live = ProfileTag.objects.filter(_live(timezone.now()))
    counts = list(
        live.order_by().values("tag_id").annotate(n=Count("profile_id")).order_by("-n")[:limit]
    )
    tags = {
        tag.pk: tag
        for tag in Tag.objects.select_related("category").filter(
            pk__in=[row["tag_id"] for row in counts]
        )
    }
    return {
        "tags": [
            {
                "slug": tags[row["tag_id"]].slug,
                "label": tags[row["tag_id"]].label,
                "category": tags[row["tag_id"]].category.label,
                "n": row["n"],
            }
            for row in counts
            if row["tag_id"] in tags
        ],
        "tagged": live.order_by().values("profile_id").distinct().count(),
    }
