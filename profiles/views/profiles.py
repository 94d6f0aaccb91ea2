"""Pages for ops staff: the profile list and the profile page."""

from itertools import islice
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.charts import figure_html
from core.masking import contact_visible
from core.roles import ALL_ROLES, OPS, require_role
from core.services import job_enqueue
from profiles import charts, selectors
from profiles.audit import audit_access, audit_access_many
from profiles.models import Profile, ValueTier
from profiles.sections import profile_sections_render
from profiles.selectors import LIST_SORTS
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
# The columns the list can show (the external ID always is), in their order, and the default.
PROFILE_COLUMNS = (
    ("name", pgettext_lazy("person", "Name")),
    ("email", gettext_lazy("Email")),
    ("phone", gettext_lazy("Phone")),
    ("city", gettext_lazy("City")),
    ("region", gettext_lazy("Region")),
    ("value_tier", gettext_lazy("Value tier")),
    ("recency_days", gettext_lazy("Recency (days)")),
    ("frequency", gettext_lazy("Frequency")),
    ("monetary", gettext_lazy("Monetary")),
    ("churn_risk", gettext_lazy("Churn risk")),
    ("clv_365d", gettext_lazy("Expected value (12 months)")),
    ("signup_at", gettext_lazy("Signed up")),
    ("last_seen_at", gettext_lazy("Last seen")),
)
DEFAULT_COLUMNS = (
    "name", "email", "phone", "city", "value_tier", "churn_risk", "clv_365d", "signup_at",
)  # fmt: skip
COLUMNS_SESSION_KEY = "profile_list_columns"
LIST_PARAMS = ("q", "city", "tier", "tag", "sort", "dir", "churn_min", "clv_min")


def _columns_chosen(request) -> list[str]:
    """Return the columns this user chose for the list (kept in the session), else the default."""
    known = dict(PROFILE_COLUMNS)
    chosen = [key for key in request.session.get(COLUMNS_SESSION_KEY) or () if key in known]
    return chosen or list(DEFAULT_COLUMNS)


def _headers(params: dict, columns: list[str]) -> list[dict]:
    """Return each shown column's header: its label, the link that sorts by it (the sorted
    column's link turns the order round) and, when sorted by it, whether highest first."""
    labels = {"external_id": _("External ID"), **dict(PROFILE_COLUMNS)}
    rest = {k: v for k, v in params.items() if v and k not in ("sort", "dir", "after")}
    headers = []
    for key in ["external_id", *columns]:
        descending = None
        link = {**rest, "sort": key}
        if params["sort"] == key:
            descending = params["dir"] == "desc" if params["dir"] else LIST_SORTS[key][1]
            link["dir"] = "asc" if descending else "desc"
        headers.append(
            {"key": key, "label": labels[key], "link": urlencode(link), "descending": descending}
        )
    return headers


def _sorts_offered(sort: str) -> list[tuple[str, str]]:
    """Return the sorts of the filter form's menu, with the column sorted by if it has none."""
    sorts = list(PROFILE_SORTS)
    if sort not in dict(sorts):
        label = _("External ID") if sort == "external_id" else dict(PROFILE_COLUMNS)[sort]
        sorts.append((sort, _("By column: %(column)s") % {"column": label}))
    return sorts


def profile_list(request):
    """List profiles with search, filters, sorts by column and chosen columns, with the total,
    paginated by keyset so it stays fast."""
    params = {name: request.GET.get(name, "").strip() for name in LIST_PARAMS}
    if params["sort"] not in LIST_SORTS:
        params["sort"] = ""
    if params["dir"] not in ("asc", "desc"):
        params["dir"] = ""
    profiles, next_cursor, total = selectors.profile_page(
        query=params["q"],
        city=params["city"],
        tier=params["tier"],
        tag=params["tag"],
        sort=params["sort"],
        descending={"asc": False, "desc": True}.get(params["dir"]),
        churn_min=_number_or_none(params["churn_min"]),
        clv_min=_number_or_none(params["clv_min"]),
        after=request.GET.get("after"),
    )
    if contact_visible(request.user):  # contact data shown in full: the trail records whose
        audit_access_many(request, [profile.pk for profile in profiles])
    columns = _columns_chosen(request)
    return render(
        request,
        "profiles/list.html",
        {
            **params,
            "profiles": profiles,
            "total": total,
            "next_cursor": next_cursor,
            "filters": urlencode({k: v for k, v in params.items() if v}),
            "sorts": _sorts_offered(params["sort"]),
            "tiers": ValueTier.choices,
            "tags": selectors.tags_all(),
            "columns": columns,
            "column_choices": PROFILE_COLUMNS,
            "headers": _headers(params, columns),
        },
    )


@require_POST
def profile_list_columns(request):
    """Remember the columns the profile list shows for this user (in the session)."""
    require_role(request.user, *ALL_ROLES)
    known = dict(PROFILE_COLUMNS)
    chosen = [key for key in request.POST.getlist("columns") if key in known]
    if request.POST.get("reset") or not chosen:
        request.session.pop(COLUMNS_SESSION_KEY, None)
    else:
        request.session[COLUMNS_SESSION_KEY] = chosen
    back = request.POST.get("next", "")
    local = back.startswith("/") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}
    )
    return HttpResponseRedirect(back if local else reverse("profiles:list"))


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
