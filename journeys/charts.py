"""Plotly figures for the dashboard, built by pure functions from plain rows."""

import plotly.graph_objects as go

from profiles.charts import figure_html, touchpoint_bars_figure

__all__ = ["events_per_day_figure", "figure_html"]


def events_per_day_figure(rows: list[dict], *, title: str) -> go.Figure:
    """Return a stacked bar chart of events per day, one trace per touchpoint."""
    return touchpoint_bars_figure(rows, period="day", title=title)
