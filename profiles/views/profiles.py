"""Pages for ops staff: the profile list and the profile page."""

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.roles import CONSENT_ADMIN, require_role
from profiles import charts, selectors
from profiles.models import Profile, ValueTier


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def profile_list(request):
    """List profiles with search and filters, paginated by keyset so it stays fast."""
    query = request.GET.get("q", "").strip()
    city = request.GET.get("city", "").strip()
    tier = request.GET.get("tier", "").strip()
    tag = request.GET.get("tag", "").strip()
    profiles, next_cursor = selectors.profile_page(
        query=query, city=city, tier=tier, tag=tag, after=_int_or_none(request.GET.get("after"))
    )
    return render(
        request,
        "profiles/list.html",
        {
            "profiles": profiles,
            "next_cursor": next_cursor,
            "q": query,
            "city": city,
            "tier": tier,
            "tag": tag,
            "tiers": ValueTier.choices,
            "tags": selectors.tags_all(),
        },
    )


def profile_detail(request, external_id: str):
    """Show one profile: attributes, traits, tags, computed features and recent events."""
    try:
        profile = selectors.profile_detail(external_id=external_id)
    except Profile.DoesNotExist:
        raise Http404 from None
    events = selectors.profile_recent_events(profile=profile)
    activity = charts.touchpoint_bars_figure(
        selectors.profile_activity(profile=profile, weeks=52),
        period="week",
        title=_("Events per week by touchpoint (52 weeks)"),
    )
    return render(
        request,
        "profiles/detail.html",
        {"profile": profile, "events": events, "activity_chart": charts.figure_html(activity)},
    )


def consent_index(request):
    """The consent section's start page, for consent admins only."""
    require_role(request.user, CONSENT_ADMIN)
    return render(request, "profiles/consent.html")
