"""Plotly figures for the dashboard, built by pure functions from plain rows."""

import plotly.graph_objects as go

from profiles.models import Touchpoint

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def figure_html(fig: go.Figure) -> str:
    """Return the figure as an HTML fragment that uses the locally served plotly.js."""
    fig.update_layout(margin={"l": 40, "r": 10, "t": 40, "b": 40}, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)


def events_per_day_figure(rows: list[dict], *, title: str) -> go.Figure:
    """Return a stacked bar chart of events per day, one trace per touchpoint."""
    labels = dict(Touchpoint.choices)
    by_channel: dict[str, dict] = {}
    for row in rows:
        by_channel.setdefault(row["channel"], {})[row["day"]] = row["n"]
    fig = go.Figure()
    for channel, counts in sorted(by_channel.items()):
        days = sorted(counts)
        fig.add_bar(x=days, y=[counts[d] for d in days], name=str(labels.get(channel, channel)))
    fig.update_layout(barmode="stack", title=title)
    return fig
