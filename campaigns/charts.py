"""Plotly figures about campaigns, built by pure functions from plain rows."""

import plotly.graph_objects as go

from core.charts import (
    PERCENT_AXIS,
    TIME_AXIS,
    ZERO_AXIS,
    Series,
    bars_figure,
    counts_by,
    lines_figure,
    percent,
    time_labels,
)


def sends_over_time_figure(
    rows: list[dict], *, title: str, label: str, bucket: str = "hour"
) -> go.Figure:
    """Return bars of messages sent per ``bucket`` ("minute" or "hour", labelled in local
    time); ``rows`` hold ``at`` (the bucket's start) and ``n``."""
    bar = Series(
        label, time_labels((row["at"] for row in rows), bucket), [row["n"] for row in rows]
    )
    return bars_figure([bar], title=title, xaxis=TIME_AXIS, yaxis={**ZERO_AXIS, "title": label})


def _rate_bar(label: str, keys: list, values: list[dict]) -> Series:
    """Return the bars of one metric's rates (percent) with their confidence intervals."""
    measured = [value if value["rate"] is not None else None for value in values]
    plus = [100 * (v["high"] - v["rate"]) if v else 0 for v in measured]
    minus = [100 * (v["rate"] - v["low"]) if v else 0 for v in measured]
    error = {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}
    return Series(label, keys, [percent(value["rate"]) for value in values], {"error_y": error})


def variant_rates_figure(rows: list[dict], *, title: str, labels: dict[str, str]) -> go.Figure:
    """Return grouped bars of each variant's rates (percent) with their confidence intervals.

    ``rows`` hold ``key`` and, for each metric in ``labels`` (metric -> legend label), a mapping
    with ``rate``, ``low`` and ``high`` (fractions, or None when not measured).
    """
    keys = [row["key"] for row in rows]
    bars = [
        _rate_bar(label, keys, [row[metric] for row in rows]) for metric, label in labels.items()
    ]
    return bars_figure(bars, title=title, barmode="group", yaxis=PERCENT_AXIS)


def tracking_timeline_figure(rows: list[dict], *, title: str, labels: dict[str, str]) -> go.Figure:
    """Return lines of events per hour, one per kind; ``rows`` hold ``hour``, ``kind`` and ``n``.

    ``labels`` maps the kinds to draw (in order) to their legend labels.
    """
    hours = sorted({row["hour"] for row in rows})
    counts = counts_by(rows, "kind", "hour")
    lines = [
        Series(label, time_labels(hours, "hour"), [counts.get((kind, hour), 0) for hour in hours])
        for kind, label in labels.items()
    ]
    return lines_figure(lines, title=title, xaxis=TIME_AXIS, yaxis=ZERO_AXIS)
