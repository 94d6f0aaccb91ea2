"""The dashboard and the journey pages: stages (list, edit, refresh) and the funnel."""

import json

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.charts import figure_html
from core.roles import OPS, require_role
from core.services import job_enqueue
from journeys import charts, selectors
from journeys.forms import FunnelFilterForm, StageForm
from journeys.models import JourneyStage
from journeys.services import STAGES_JOB_KIND, stage_save
from predictions.matrix import matrix_table
from profiles.models import ValueTier
from segments.rules import RuleError
from segments.selectors import segment_slugs


def _dashboard_figures(data: dict) -> dict:
    """Return the dashboard's plotly figures by template name."""
    tiers = {**{k: str(v) for k, v in ValueTier.choices}, "": _("Not computed yet")}
    return {
        "events_chart": charts.events_per_day_figure(
            data["events"], title=_("Events per day by touchpoint (30 days)")
        ),
        "tier_chart": charts.value_tier_figure(
            data["rfm"], tiers, title=_("Profiles by value tier")
        ),
        "rfm_chart": charts.rfm_heatmap_figure(
            data["rfm"],
            title=_("Profiles by recency (R) and frequency (F) score"),
            r_label=_("R score (5: bought most recently)"),
            f_label=_("F score (5: buys most often)"),
        ),
        "tag_chart": charts.tag_coverage_figure(
            data["tags"]["tags"],
            data["totals"]["total"],
            title=_("Most carried tags (share of all profiles)"),
        ),
        "segments_chart": charts.segments_trend_figure(
            data["segments"], title=_("Largest segments: size after each run (90 days)")
        ),
        "funnel_chart": charts.funnel_figure(
            data["funnel"], title=_("Profiles that reached each journey stage"), **funnel_words()
        ),
        "campaigns_chart": charts.campaigns_rates_figure(
            data["campaigns"],
            {
                "open_rate": _("Open rate"),
                "click_rate": _("Click rate"),
                "conversion_rate": _("Conversion rate"),
            },
            title=_("Recent campaigns"),
        ),
    }


def dashboard(request):
    """Render the home dashboard: profiles, events, value tiers, tags, segments, funnel, campaigns.

    Every block comes from ``selectors.dashboard_data`` (cached aggregates).
    """
    data = selectors.dashboard_data()
    totals = data["totals"]
    tags = data["tags"]
    context = {name: figure_html(figure) for name, figure in _dashboard_figures(data).items()}
    context.update(
        totals=totals,
        tagged=tags["tagged"],
        tagged_share=percent_shown(tags["tagged"] / totals["total"] if totals["total"] else None),
        segments=data["segments"],
        churn_matrix=matrix_table(data["predictions"]),
        campaigns=[
            {
                **row,
                **{
                    f"{key}_shown": percent_shown(row[key])
                    for key in ("open_rate", "click_rate", "conversion_rate", "lift")
                },
                **({} if row["engagement_tracked"] else {"open_rate_shown": _("not tracked")}),
                **({} if row["clicks_tracked"] else {"click_rate_shown": _("not tracked")}),
            }
            for row in data["campaigns"]
        ],
    )
    return render(request, "journeys/dashboard.html", context)


def stages(request):
    """List the journey stages in order with how many profiles are at and reached each."""
    rows = [
        {**row, "rule_json": json.dumps(row["stage"].rule, ensure_ascii=False, indent=2)}
        for row in selectors.stages_with_counts()
    ]
    return render(request, "journeys/stages.html", {"rows": rows})


def _stage_form_page(request, stage: JourneyStage | None):
    require_role(request.user, OPS)
    form = StageForm(request.POST or None, stage=stage)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                stage_save(stage=stage, data=form.cleaned_data)
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, messages)
            else:
                return redirect("journeys:stages")
        status = 400
    return render(
        request, "journeys/stage_form.html", {"form": form, "stage": stage}, status=status
    )


def stage_new(request):
    """Add a stage (ops staff)."""
    return _stage_form_page(request, None)


def stage_edit(request, slug: str):
    """Edit a stage's name, position, entry rule and whether it is active (ops staff)."""
    return _stage_form_page(request, get_object_or_404(JourneyStage, slug=slug))


@require_POST
def stages_refresh(request):
    """Queue a stage refresh now and show its job (ops staff)."""
    require_role(request.user, OPS)
    job = job_enqueue(kind=STAGES_JOB_KIND, payload={}, user=request.user, total=1)
    return redirect("job-detail", pk=job.pk)


def funnel_words() -> dict:
    """Return the funnel chart's words for shares, in the active language."""
    return {"of_first": _("of the first stage"), "of_previous": _("of the stage before")}


def percent_shown(ratio: float | None) -> str:
    """Return a ratio as a percentage with one decimal ("—" for None)."""
    return "—" if ratio is None else f"{100 * ratio:.1f}%"


def duration_shown(seconds: float | None) -> str:
    """Return a duration for people: "3 d 4 h", "5 h 12 min", "40 s" ("—" for None)."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)s min") % {"m": minutes}
    return _("%(s)s s") % {"s": secs}


def funnel(request):
    """Show the funnel, its cohorts and the weekly stage entries, with the filters applied."""
    form = FunnelFilterForm(
        request.GET or None,
        segments=segment_slugs(),
        channels=selectors.acquisition_channels(),
    )
    filters = selectors.FunnelFilters()
    if form.is_bound and form.is_valid():
        filters = form.filters()
    context = {"form": form}
    try:
        result = selectors.funnel(filters)
    except RuleError as error:  # a segment that no longer exists
        form.add_error("segment", error.message)
        filters = selectors.FunnelFilters()
        result = selectors.funnel(filters)
    stages = [
        {
            **stage,
            "share_shown": percent_shown(stage["share"]),
            "conversion_shown": percent_shown(stage["conversion"]),
            "median_shown": duration_shown(stage["median_seconds"]),
        }
        for stage in result["stages"]
    ]
    cohorts = selectors.funnel_cohorts(filters)
    trend = selectors.stage_trend(filters)
    context.update(
        {
            "funnel": result,
            "stages": stages,
            "cohorts": cohorts,
            "funnel_chart": figure_html(
                charts.funnel_figure(
                    stages, title=_("Profiles that reached each stage"), **funnel_words()
                )
            ),
            "cohort_chart": figure_html(
                charts.cohort_heatmap_figure(
                    cohorts,
                    [stage["name"] for stage in stages],
                    title=_("Share of each sign-up month that reached each stage"),
                    signups_label=_("sign-ups"),
                )
            ),
            "trend_chart": figure_html(
                charts.stage_trend_figure(
                    trend,
                    {stage["slug"]: stage["name"] for stage in stages},
                    title=_("Profiles entering each stage per week (26 weeks)"),
                )
            ),
        }
    )
    return render(request, "journeys/funnel.html", context)
