"""Pages for ops staff: the profile list and the profile page."""

from itertools import islice
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.charts import figure_html
from core.masking import contact_visible
from core.roles import OPS, require_role
from core.services import job_enqueue
from profiles import charts, selectors
from profiles.audit import audit_access, audit_access_many
from profiles.models import Profile, ValueTier
from profiles.sections import profile_sections_render
from profiles.services.features import FEATURES_JOB_KIND
from profiles.services.merge import profile_merge


def _number_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


PROFILE_SORTS = (
    ("", gettext_lazy("Newest first")),
    ("churn_risk", gettext_lazy("Churn risk, highest first")),
    ("clv_365d", gettext_lazy("Expected value (12 months), highest first")),
)


def profile_list(request):
    """List profiles with search, filters and sorts, paginated by keyset so it stays fast."""
    params = {
        name: request.GET.get(name, "").strip()
        for name in ("q", "city", "tier", "tag", "sort", "churn_min", "clv_min")
    }
    if params["sort"] not in dict(PROFILE_SORTS):
        params["sort"] = ""
    profiles, next_cursor = selectors.profile_page(
        query=params["q"],
        city=params["city"],
        tier=params["tier"],
        tag=params["tag"],
        sort=params["sort"],
        churn_min=_number_or_none(params["churn_min"]),
        clv_min=_number_or_none(params["clv_min"]),
        after=request.GET.get("after"),
    )
    if contact_visible(request.user):  # contact data shown in full: the trail records whose
        audit_access_many(request, [profile.pk for profile in profiles])
    return render(
        request,
        "profiles/list.html",
        {
            **params,
            "profiles": profiles,
            "next_cursor": next_cursor,
            "filters": urlencode({k: v for k, v in params.items() if v}),
            "sorts": PROFILE_SORTS,
            "tiers": ValueTier.choices,
            "tags": selectors.tags_all(),
        },
    )


@never_cache
def profile_detail(request, external_id: str):
    """Show one profile: attributes, traits, tags, computed features and recent events."""
    try:
        profile = selectors.profile_detail(external_id=external_id)
    except Profile.DoesNotExist:
        raise Http404 from None
    audit_access(request, profile)
    events = selectors.profile_recent_events(profile=profile)
    activity = charts.touchpoint_bars_figure(
        selectors.profile_activity(profile=profile, weeks=52),
        period="week",
        title=_("Events per week by touchpoint (52 weeks)"),
    )
    traits = list(islice((profile.traits or {}).items(), settings.PROFILE_MAX_TRAITS))
    return render(
        request,
        "profiles/detail.html",
        {
            "profile": profile,
            "traits": traits,
            "traits_more": len(profile.traits or {}) - len(traits),
            "events": events,
            "activity_chart": figure_html(activity),
            "merges": profile.merges_received.all()[:20],
            "merge_form": ProfileMergeForm(),
            "sections": profile_sections_render(profile=profile, request=request),
            "consent_overview": selectors.consent_overview(profile=profile),
        },
    )


class ProfileMergeForm(forms.Form):
    source = forms.CharField(
        label=gettext_lazy("External ID of the duplicate to merge into this profile"),
        max_length=128,
    )
    confirm = forms.BooleanField(
        label=gettext_lazy("Move its events, tags and requests here and delete the duplicate")
    )


@require_POST
def profile_merge_view(request, external_id: str):
    """Merge a duplicate profile into this one (ops staff), then show the kept profile."""
    require_role(request.user, OPS)
    target = get_object_or_404(Profile, external_id=external_id)
    form = ProfileMergeForm(request.POST)
    if form.is_valid():
        source = Profile.objects.filter(external_id=form.cleaned_data["source"].strip()).first()
        if source is None:
            messages.error(request, _("No profile has the external ID %(id)s.")
                           % {"id": form.cleaned_data["source"]})  # fmt: skip
        else:
            try:
                merge = profile_merge(source=source, target=target, user=request.user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, _("Merged %(source)s into this profile.")
                                 % {"source": merge.source_external_id})  # fmt: skip
    else:
        messages.error(request, _("Give the duplicate's external ID and tick the confirmation."))
    return redirect("profiles:detail", external_id=target.external_id)


@require_POST
def features_refresh_view(request):
    """Queue a refresh of every profile's computed features and show the job (ops staff)."""
    require_role(request.user, OPS)
    job = job_enqueue(kind=FEATURES_JOB_KIND, payload={}, user=request.user, total=1)
    return redirect("job-detail", pk=job.pk)
