"""Segment pages: the list, one segment with its run history, members export, evaluate."""

import csv
import json

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.roles import OPS, require_role
from profiles.charts import figure_html
from segments import charts, selectors
from segments.models import Segment
from segments.services import segment_queue

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """Return a cell that spreadsheet programs will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def index(request):
    """List the segments with their status, size and last run."""
    return render(request, "segments/list.html", {"segments": selectors.segments_all()})


def detail(request, slug: str):
    """Show one segment: its rule, status, run history chart and latest runs."""
    segment = get_object_or_404(Segment, slug=slug)
    runs = selectors.segment_runs(segment=segment)
    chart = figure_html(
        charts.size_history_figure(runs, title=_("Size over time"), size_label=_("Members"))
    )
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "runs": list(reversed(runs))[:20],
            "chart": chart,
            "rule_json": json.dumps(segment.rule, ensure_ascii=False, indent=2),
        },
    )


@require_POST
def evaluate(request, slug: str):
    """Queue an evaluation of the segment now (ops staff)."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug, kind=Segment.Kind.DYNAMIC)
    segment_queue(segment=segment)
    return redirect("segments:detail", slug=segment.slug)


class _Echo:
    def write(self, value):
        return value


def members_csv(request, slug: str):
    """Stream the members as CSV (external_id, email, since), safe to open in a spreadsheet."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug)
    writer = csv.writer(_Echo())
    header = [["external_id", "email", "since"]]
    rows = (
        [csv_safe(external_id), csv_safe(email), since.isoformat()]
        for external_id, email, since in selectors.segment_member_rows(segment=segment)
    )
    response = StreamingHttpResponse(
        (writer.writerow(row) for rows_ in (header, rows) for row in rows_),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-members.csv"'
    return response
