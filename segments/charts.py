"""Plotly figures for segment pages, built by pure functions from plain rows."""

import plotly.graph_objects as go


def size_history_figure(runs: list, *, title: str, size_label: str) -> go.Figure:
    """Return the segment's size after each successful run as a line over time."""
    done = [run for run in runs if run.size is not None]
    fig = go.Figure()
    fig.add_scatter(
        x=[run.started_at for run in done],
        y=[run.size for run in done],
        mode="lines+markers",
        name=size_label,
    )
    fig.update_layout(title=title, height=300, showlegend=False)
    return fig
