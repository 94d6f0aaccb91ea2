"""Plotly figures about profiles and events, built by pure functions from plain rows."""

import plotly.graph_objects as go

from core.charts import (
    TIME_AXIS,
    TIME_FORMATS,
    Series,
    bars_figure,
    counts_by,
    lines_figure,
    time_labels,
)
from profiles.models import Touchpoint


def touchpoint_bars_figure(rows: list[dict], *, period: str, title: str) -> go.Figure:
    """Return stacked bars of event counts per ``period`` (a row key), one trace per touchpoint.

    ``rows`` hold ``period`` (a local date: a day or a week's first day), ``channel`` and ``n``,
    as the activity selectors return them; each period is one labelled category.
    """
    labels = dict(Touchpoint.choices)
    period_step = period if period in TIME_FORMATS else "day"
    by_channel: dict[str, dict] = {}
    for (channel, at), n in counts_by(rows, "channel", period).items():
        by_channel.setdefault(channel, {})[at] = n
    bars = []
    for channel, counts in sorted(by_channel.items()):
        periods = sorted(counts)
        name = str(labels.get(channel, channel))
        bars.append(Series(name, time_labels(periods, period_step), [counts[p] for p in periods]))
    return bars_figure(bars, title=title, barmode="stack", xaxis=TIME_AXIS)


def _granted_share(point: dict) -> float:
    return round(100 * point["granted"] / point["profiles"], 2) if point["profiles"] else 0


def consent_rates_figure(rows: list[dict], *, title: str, channel_labels: dict) -> go.Figure:
    """Return lines of the share of profiles (%) with a granted consent, one per channel.

    ``rows`` hold ``at``, ``channel``, ``granted`` and ``profiles``, as ``consent_rates`` returns.
    """
    by_channel: dict[str, list[dict]] = {}
    for row in rows:
        by_channel.setdefault(row["channel"], []).append(row)
    lines = []
    for channel, points in sorted(by_channel.items()):
        points = sorted(points, key=lambda point: point["at"])
        trace = {
            "customdata": [[point["granted"], point["profiles"]] for point in points],
            "hovertemplate": "%{y}% (%{customdata[0]} / %{customdata[1]})<extra></extra>",
        }
        name = str(channel_labels.get(channel, channel))
        x = time_labels(point["at"] for point in points)
        lines.append(Series(name, x, [_granted_share(point) for point in points], trace))
    return lines_figure(
        lines, title=title, xaxis=TIME_AXIS, yaxis={"ticksuffix": "%", "rangemode": "tozero"}
    )
