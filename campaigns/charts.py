"""Plotly figures about campaigns, built by pure functions from plain rows."""

import plotly.graph_objects as go


def sends_over_time_figure(rows: list[dict], *, title: str, label: str) -> go.Figure:
    """Return bars of messages sent per period; ``rows`` hold ``at`` and ``n``."""
    fig = go.Figure()
    fig.add_bar(x=[row["at"] for row in rows], y=[row["n"] for row in rows], name=label)
    fig.update_layout(title=title, yaxis={"rangemode": "tozero", "title": label})
    return fig
