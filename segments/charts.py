"""Plotly figures for segment pages, built by pure functions from plain rows."""

import plotly.graph_objects as go

from core.charts import TIME_AXIS, ZERO_AXIS, Series, last_per_day, lines_figure


def size_history_figure(runs: list, *, title: str, size_label: str) -> go.Figure:
    """Return the segment's size at the end of each local day with a successful run."""
    days, sizes = last_per_day((run.started_at, run.size) for run in runs if run.size is not None)
    return lines_figure(
        [Series(size_label, days, sizes)],
        title=title,
        height=300,
        showlegend=False,
        xaxis=TIME_AXIS,
        yaxis=ZERO_AXIS,
    )
