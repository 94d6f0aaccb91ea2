"""Segment insight: the portrait against the base, the overlap with other segments, the size
history and the members table's columns (for the segment page)."""

from django.shortcuts import get_object_or_404, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from core.charts import figure_html
from core.roles import ALL_ROLES, require_role
from profiles.models import TOUCHPOINT_DAYS
from segments import charts, selectors
from segments.models import Segment
from segments.overlap import MAX_SEGMENTS, OverlapError, segments_for_overlap, segments_overlap
from segments.portrait import segment_portrait

MEMBER_COLUMNS = (
    ("name", pgettext_lazy("person", "Name")),
    ("city", gettext_lazy("City")),
    ("tier", gettext_lazy("Value tier")),
    ("last_seen", gettext_lazy("Last seen")),
    ("since", gettext_lazy("Member since")),
)
UNIT_LABELS = {
    charts.HOURS: gettext_lazy("by hour"),
    charts.DAYS: gettext_lazy("by day"),
    charts.WEEKS: gettext_lazy("by week (starting Monday)"),
}


def member_columns(sort: str, descending: bool) -> list[dict]:
    """Return the sortable columns of the members table: label, the ``?sort=`` of its link
    (the other direction when it is the current sort) and its current direction."""
    columns = []
    for key, label in MEMBER_COLUMNS:
        current = key == sort
        columns.append(
            {
                "key": key,
                "label": label,
                "sort": f"-{key}" if current and not descending else key,
                "direction": ("descending" if descending else "ascending") if current else "",
            }
        )
    return columns


def size_history(segment: Segment) -> dict:
    """Return the size-over-time chart (HTML) or, with fewer than two buckets, a sentence."""
    points = selectors.segment_size_points(segment=segment)
    unit, buckets = charts.size_buckets(points, tz=timezone.get_current_timezone())
    if not buckets:
        return {"size_chart": "", "size_note": _("Not evaluated yet: there is no size history.")}
    if len(buckets) < 2:
        last = points[-1]
        when = formats.date_format(timezone.localtime(last.at), "Y-m-d H:i")
        note = ngettext(
            "One size so far: %(size)s member at %(when)s.",
            "One size so far: %(size)s members at %(when)s.",
            last.size,
        ) % {
            "size": formats.number_format(last.size, force_grouping=True),
            "when": when,
        }
        return {"size_chart": "", "size_note": note}
    title = _("Size over time, %(unit)s") % {"unit": UNIT_LABELS[unit]}
    figure = charts.size_history_figure(buckets, title=title, size_label=_("Members"))
    return {"size_chart": figure_html(figure), "size_note": ""}


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def _portrait_chart(dimension) -> str:
    rows = [
        charts.BarRow(
            row.label,
            row.tgi,
            _(
                "%(label)s<br>in the segment: %(count)s (%(share)s)<br>"
                "in the base: %(base_count)s (%(base_share)s)<br>TGI %(tgi)s"
            )
            % {
                "label": row.label,
                "count": f"{row.count:,}",
                "share": _percent(row.share),
                "base_count": f"{row.base_count:,}",
                "base_share": _percent(row.base_share),
                "tgi": f"{row.tgi:.0f}",
            },
        )
        for row in dimension.shown
        if row.tgi is not None
    ]
    if not rows:
        return ""
    title = _("%(dimension)s: index against the base") % {"dimension": dimension.label}
    return figure_html(charts.tgi_bars_figure(rows, title=title, axis_title=_("TGI")))


def portrait(request, slug: str):
    """Show the segment's portrait: each dimension's values with shares and TGI, as a table and
    as bars, highest index first."""
    require_role(request.user, *ALL_ROLES)
    segment = get_object_or_404(Segment, slug=slug)
    result = segment_portrait(segment=segment)
    return render(
        request,
        "segments/portrait.html",
        {
            "segment": segment,
            "portrait": result,
            "cards": [
                {"dimension": dimension, "chart": _portrait_chart(dimension)}
                for dimension in result.dimensions
            ],
            "touchpoint_days": TOUCHPOINT_DAYS,
        },
    )


def overlap(request, slug: str):
    """Compare the segment with 1 to 4 others (``?with=…``): pairwise intersections with Jaccard
    and an UpSet chart of every combination."""
    require_role(request.user, *ALL_ROLES)
    segment = get_object_or_404(Segment, slug=slug)
    chosen = [value for value in request.GET.getlist("with") if value != segment.slug]
    context = {
        "segment": segment,
        "others": Segment.objects.exclude(pk=segment.pk).order_by("name"),
        "chosen": chosen,
        "max_others": MAX_SEGMENTS - 1,
    }
    status = 200
    if chosen:
        try:
            segments = segments_for_overlap([segment.slug, *chosen])
        except OverlapError as error:
            context["error"], status = str(error), 400
        else:
            context.update(_overlap_context(segments_overlap(segments=segments)))
    return render(request, "segments/overlap.html", context, status=status)


def _overlap_context(result) -> dict:
    index = {segment.pk: i for i, segment in enumerate(result.segments)}
    names = [segment.name or segment.slug for segment in result.segments]
    combos = [
        (tuple(index[s.pk] for s in combo.segments), combo.count) for combo in result.combinations
    ]
    chart = ""
    if combos:
        figure = charts.upset_figure(
            names,
            combos,
            title=_("Profiles in exactly these segments"),
            count_label=_("Profiles"),
        )
        chart = figure_html(figure)
    return {
        "overlap": result,
        "sizes": [(segment, result.sizes[segment.pk]) for segment in result.segments],
        "upset_chart": chart,
        "combination_rows": [
            (number, [names[i] for i in members], count)
            for number, (members, count) in enumerate(combos, start=1)
        ],
    }
