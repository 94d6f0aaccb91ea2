"""The dashboard and the journey pages."""

from django.shortcuts import render
from django.utils.translation import gettext as _

from journeys import charts
from profiles import selectors as profile_selectors


def dashboard(request):
    """Render the home dashboard: profile totals and events per day by touchpoint."""
    totals = profile_selectors.profile_totals(days=30)
    rows = profile_selectors.events_per_day(days=30)
    events_chart = charts.figure_html(
        charts.events_per_day_figure(rows, title=_("Events per day by touchpoint (30 days)"))
    )
    return render(
        request, "journeys/dashboard.html", {"totals": totals, "events_chart": events_chart}
    )


def stages(request):
    """List the journey stages (configured in the journeys issue)."""
    return render(request, "journeys/stages.html")
