"""Plotly figures about campaigns, built by pure functions from plain rows."""

import plotly.graph_objects as go


def sends_over_time_figure(rows: list[dict], *, title: str, label: str) -> go.Figure:
    """Return bars of messages sent per period; ``rows`` hold ``at`` and ``n``."""
    fig = go.Figure()
    fig.add_bar(x=[row["at"] for row in rows], y=[row["n"] for row in rows], name=label)
    fig.update_layout(title=title, yaxis={"rangemode": "tozero", "title": label})
    return fig


def variant_rates_figure(rows: list[dict], *, title: str, labels: dict[str, str]) -> go.Figure:
    """Return grouped bars of each variant's rates (percent) with their confidence intervals.

    ``rows`` hold ``key`` and, for each metric in ``labels`` (metric -> legend label), a mapping
    with ``rate``, ``low`` and ``high`` (fractions, or None when not measured).
    """
    fig = go.Figure()
    keys = [row["key"] for row in rows]
    for metric, label in labels.items():
        values = [row[metric] for row in rows]
        rates = [100 * v["rate"] if v["rate"] is not None else None for v in values]
        plus = [100 * (v["high"] - v["rate"]) if v["rate"] is not None else 0 for v in values]
        minus = [100 * (v["rate"] - v["low"]) if v["rate"] is not None else 0 for v in values]
        fig.add_bar(
            x=keys,
            y=rates,
            name=label,
            error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
        )
    fig.update_layout(
        barmode="group", title=title, yaxis={"rangemode": "tozero", "ticksuffix": "%"}
    )
    return fig


def tracking_timeline_figure(rows: list[dict], *, title: str, labels: dict[str, str]) -> go.Figure:
    """Return lines of events per hour, one per kind; ``rows`` hold ``hour``, ``kind`` and ``n``.

    ``labels`` maps the kinds to draw (in order) to their legend labels.
    """
    fig = go.Figure()
    hours = sorted({row["hour"] for row in rows})
    counts = {(row["kind"], row["hour"]): row["n"] for row in rows}
    for kind, label in labels.items():
        fig.add_scatter(
            x=hours,
            y=[counts.get((kind, hour), 0) for hour in hours],
            mode="lines+markers",
            name=label,
        )
    fig.update_layout(title=title, yaxis={"rangemode": "tozero"})
    return fig
