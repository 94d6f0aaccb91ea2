"""Plotly figures for segment pages, built by pure functions from plain rows."""

import datetime
from collections.abc import Sequence
from typing import NamedTuple

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.charts import Series, lines_figure

BAR_HEIGHT = 26  # pixels per bar of a horizontal bar chart
TGI_COLOUR = "#2563eb"
BELOW_COLOUR = "#94a3b8"  # values less common in the segment than in the base

HOURS, DAYS, WEEKS = "hours", "days", "weeks"
HOURS_UP_TO = datetime.timedelta(days=2)  # spans up to this are shown hour by hour
DAYS_UP_TO = datetime.timedelta(days=120)  # then day by day, then week by week


class SizePoint(NamedTuple):
    """The size of a segment after a run that finished without error, at the run's start."""

    at: datetime.datetime
    size: int


def size_buckets(
    points: Sequence[SizePoint], *, tz: datetime.tzinfo
) -> tuple[str, list[tuple[str, int]]]:
    """Return the bucket unit that suits the span and each bucket's label and size.

    Buckets are hours, days or (Monday-started) weeks in ``tz``; a bucket's size is the size
    after its last run, and a bucket without a run keeps the size before it (the membership did
    not change), so the line has no gaps and its steps are evenly spaced.
    """
    if not points:
        return DAYS, []
    ordered = sorted(points)
    span = ordered[-1].at - ordered[0].at
    unit = HOURS if span <= HOURS_UP_TO else DAYS if span <= DAYS_UP_TO else WEEKS
    last: dict[datetime.datetime, int] = {}
    for point in ordered:
        last[_bucket(point.at.astimezone(tz), unit)] = point.size
    step = {HOURS: datetime.timedelta(hours=1), DAYS: datetime.timedelta(days=1)}.get(
        unit, datetime.timedelta(weeks=1)
    )
    buckets, size = [], None
    start, end = min(last), max(last)
    moment = start
    while moment <= end:
        size = last.get(moment, size)
        buckets.append((_bucket_label(moment, unit), size))
        moment += step  # naive local times: a DST change does not shift the buckets
    return unit, buckets


def _bucket(moment: datetime.datetime, unit: str) -> datetime.datetime:
    """Return the naive local start of the bucket ``moment`` (local) falls in."""
    moment = moment.replace(tzinfo=None, minute=0, second=0, microsecond=0)
    if unit == HOURS:
        return moment
    day = moment.replace(hour=0)
    return day if unit == DAYS else day - datetime.timedelta(days=day.weekday())


def _bucket_label(moment: datetime.datetime, unit: str) -> str:
    if unit == HOURS:
        return moment.strftime("%m-%d %H:00")
    return moment.strftime("%Y-%m-%d")


def size_history_figure(buckets: list[tuple[str, int]], *, title: str, size_label: str):
    """Return the size per bucket as a line over a category axis (labels in local time)."""
    line = Series(
        size_label,
        [label for label, _size in buckets],
        [size for _label, size in buckets],
        {"hovertemplate": "%{x}<br>%{y:,}<extra></extra>"},
    )
    fig = lines_figure([line], title=title, height=300, showlegend=False)
    fig.update_xaxes(type="category", automargin=True)
    fig.update_yaxes(rangemode="tozero", tickformat=",d", automargin=True)
    return fig


class BarRow(NamedTuple):
    """One bar of a portrait chart: its label, index, and what the hover says."""

    label: str
    tgi: float
    hover: str


def tgi_bars_figure(rows: Sequence[BarRow], *, title: str, axis_title: str) -> go.Figure:
    """Return horizontal TGI bars, highest at the top, with a line at 100 (as in the base)."""
    fig = go.Figure()
    fig.add_bar(
        y=[row.label for row in rows],
        x=[round(row.tgi, 1) for row in rows],
        orientation="h",
        text=[f"{row.tgi:.0f}" for row in rows],
        textposition="auto",
        hovertext=[row.hover for row in rows],
        hoverinfo="text",
        marker_color=[TGI_COLOUR if row.tgi >= 100 else BELOW_COLOUR for row in rows],
    )
    fig.add_vline(x=100, line_dash="dot", line_color="#475569")
    fig.update_layout(
        title=title,
        height=90 + BAR_HEIGHT * max(len(rows), 1),
        showlegend=False,
        bargap=0.25,
    )
    fig.update_xaxes(title_text=axis_title, rangemode="tozero", automargin=True)
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    return fig


def upset_figure(
    names: Sequence[str],
    combinations: Sequence[tuple[tuple[int, ...], int]],
    *,
    title: str,
    count_label: str,
) -> go.Figure:
    """Return an UpSet chart: a bar per combination of segments above a matrix of dots.

    ``combinations`` are (indexes of the segments in the combination, profiles in exactly it),
    largest first; the dots below each bar mark its segments.
    """
    columns = [str(number + 1) for number in range(len(combinations))]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4])
    fig.add_bar(
        x=columns,
        y=[count for _members, count in combinations],
        text=[f"{count:,}" for _members, count in combinations],
        textposition="auto",
        hovertext=[
            " ∩ ".join(names[i] for i in members) + f"<br>{count:,}"
            for members, count in combinations
        ],
        hoverinfo="text",
        marker_color=TGI_COLOUR,
        row=1,
        col=1,
    )
    for index, name in enumerate(names):
        inside = [index in members for members, _count in combinations]
        fig.add_scatter(
            x=columns,
            y=[name] * len(columns),
            mode="markers",
            marker={"size": 12, "color": ["#0f172a" if yes else "#e2e8f0" for yes in inside]},
            hoverinfo="skip",
            row=2,
            col=1,
        )
    fig.update_layout(title=title, height=260 + 28 * len(names), showlegend=False, bargap=0.3)
    fig.update_xaxes(type="category", showticklabels=False, row=1, col=1)
    fig.update_xaxes(type="category", showticklabels=False, row=2, col=1)
    fig.update_yaxes(title_text=count_label, rangemode="tozero", automargin=True, row=1, col=1)
    fig.update_yaxes(type="category", autorange="reversed", automargin=True, row=2, col=1)
    return fig
