"""Plotly figures for segment pages, built by pure functions from plain rows."""

import plotly.graph_objects as go

from core.charts import Series, lines_figure


def size_history_figure(runs: list, *, title: str, size_label: str) -> go.Figure:
    """Return the segment's size after each successful run as a line over time."""
    done = [run for run in runs if run.size is not None]
    line = Series(size_label, [run.started_at for run in done], [run.size for run in done])
    return lines_figure([line], title=title, height=300, showlegend=False)
