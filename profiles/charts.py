"""Plotly figures about profiles and events, built by pure functions from plain rows."""

import functools

import plotly.graph_objects as go
import plotly.io as pio

from profiles.models import Touchpoint

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
TEMPLATE = "plotly_white"
MARGIN = {"l": 40, "r": 10, "t": 40, "b": 40}


@functools.cache
def template_json() -> dict:
    """Return the charts' plotly template as plain JSON, read from plotly's files once."""
    return pio.templates[TEMPLATE].to_plotly_json()


def figure_html(fig: go.Figure) -> str:
    """Return the figure as an HTML fragment that uses the locally served plotly.js.

    The template goes into the figure's JSON, not through ``update_layout``: plotly would
    copy and validate the whole template again for every figure (about 15 ms each).
    """
    spec = fig.to_plotly_json()
    layout = spec["layout"]
    layout.update(margin={**layout.get("margin", {}), **MARGIN}, template=template_json())
    return pio.to_html(
        spec, full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, validate=False
    )


def touchpoint_bars_figure(rows: list[dict], *, period: str, title: str) -> go.Figure:
    """Return stacked bars of event counts per ``period`` (a row key), one trace per touchpoint.

    ``rows`` hold ``period``, ``channel`` and ``n``, as the activity selectors return them.
    """
    labels = dict(Touchpoint.choices)
    by_channel: dict[str, dict] = {}
    for row in rows:
        by_channel.setdefault(row["channel"], {})[row[period]] = row["n"]
    fig = go.Figure()
    for channel, counts in sorted(by_channel.items()):
        periods = sorted(counts)
        fig.add_bar(
            x=periods, y=[counts[p] for p in periods], name=str(labels.get(channel, channel))
        )
    fig.update_layout(barmode="stack", title=title)
    return fig


def consent_rates_figure(rows: list[dict], *, title: str, channel_labels: dict) -> go.Figure:
    """Return lines of the share of profiles (%) with a granted consent, one per channel.

    ``rows`` hold ``at``, ``channel``, ``granted`` and ``profiles``, as ``consent_rates`` returns.
    """
    by_channel: dict[str, list[dict]] = {}
    for row in rows:
        by_channel.setdefault(row["channel"], []).append(row)
    fig = go.Figure()
    for channel, points in sorted(by_channel.items()):
        points = sorted(points, key=lambda point: point["at"])
        fig.add_scatter(
            x=[point["at"] for point in points],
            y=[
                round(100 * point["granted"] / point["profiles"], 2) if point["profiles"] else 0
                for point in points
            ],
            customdata=[[point["granted"], point["profiles"]] for point in points],
            hovertemplate="%{y}% (%{customdata[0]} / %{customdata[1]})<extra></extra>",
            mode="lines+markers",
            name=str(channel_labels.get(channel, channel)),
        )
    fig.update_layout(title=title, yaxis={"ticksuffix": "%", "rangemode": "tozero"})
    return fig
