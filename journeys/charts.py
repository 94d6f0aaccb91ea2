"""Plotly figures for the dashboard and the journey pages, built by pure functions from rows."""

import datetime

import plotly.graph_objects as go

from profiles.charts import figure_html, touchpoint_bars_figure

__all__ = [
    "cohort_heatmap_figure",
    "events_per_day_figure",
    "figure_html",
    "funnel_figure",
    "stage_trend_figure",
]


def events_per_day_figure(rows: list[dict], *, title: str) -> go.Figure:
    """Return a stacked bar chart of events per day, one trace per touchpoint."""
    return touchpoint_bars_figure(rows, period="day", title=title)


def funnel_figure(stages: list[dict], *, title: str) -> go.Figure:
    """Return the funnel: profiles that reached each stage, with the share of the first stage.

    ``stages`` are the ``stages`` rows of ``journeys.selectors.funnel`` (``name``, ``reached``).
    """
    fig = go.Figure(
        go.Funnel(
            y=[stage["name"] for stage in stages],
            x=[stage["reached"] for stage in stages],
            textinfo="value+percent initial+percent previous",
        )
    )
    fig.update_layout(title=title, height=420)
    return fig


def cohort_heatmap_figure(
    cohorts: list[dict], stage_names: list[str], *, title: str, signups_label: str
) -> go.Figure:
    """Return a heat map: sign-up months (rows) by stages (columns), the share that reached it.

    ``cohorts`` are the rows of ``journeys.selectors.funnel_cohorts``.
    """
    months = [f"{row['month']} ({signups_label} {row['signups']})" for row in cohorts]
    shares = [[round(100 * share, 1) for share in row["share"]] for row in cohorts]
    fig = go.Figure(
        go.Heatmap(
            z=shares,
            x=stage_names,
            y=months,
            zmin=0,
            zmax=100,
            colorscale="Blues",
            text=[[f"{value:g}%" for value in row] for row in shares],
            texttemplate="%{text}",
            hovertemplate="%{y}<br>%{x}: %{z}%<extra></extra>",
            colorbar={"ticksuffix": "%"},
        )
    )
    fig.update_layout(title=title, height=max(300, 28 * len(months) + 120))
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def stage_trend_figure(rows: list[dict], stage_names: dict[str, str], *, title: str) -> go.Figure:
    """Return lines of how many profiles entered each stage per week, one line per stage.

    ``rows`` hold ``week`` (a date), ``stage`` (slug) and ``n``, as ``stage_trend`` returns;
    ``stage_names`` maps slugs to names, in the order the lines are drawn.
    """
    weeks = sorted({row["week"] for row in rows})
    counts: dict[tuple[str, datetime.date], int] = {
        (row["stage"], row["week"]): row["n"] for row in rows
    }
    fig = go.Figure()
    for slug, name in stage_names.items():
        fig.add_scatter(
            x=weeks,
            y=[counts.get((slug, week), 0) for week in weeks],
            mode="lines+markers",
            name=name,
        )
    fig.update_layout(title=title, yaxis={"rangemode": "tozero"})
    return fig
