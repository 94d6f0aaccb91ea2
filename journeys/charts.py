"""Plotly figures for the dashboard and the journey pages, built by pure functions from rows."""

import plotly.graph_objects as go

from core.charts import (
    PERCENT_AXIS,
    TIME_AXIS,
    ZERO_AXIS,
    Series,
    bars_figure,
    counts_by,
    last_per_day,
    lines_figure,
    percent,
    time_labels,
)
from profiles.charts import touchpoint_bars_figure

__all__ = [
    "campaigns_rates_figure",
    "cohort_heatmap_figure",
    "events_per_day_figure",
    "funnel_figure",
    "rfm_heatmap_figure",
    "segments_trend_figure",
    "stage_trend_figure",
    "tag_coverage_figure",
    "value_tier_figure",
]


def events_per_day_figure(rows: list[dict], *, title: str) -> go.Figure:
    """Return a stacked bar chart of events per day, one trace per touchpoint."""
    return touchpoint_bars_figure(rows, period="day", title=title)


def _funnel_text(reached: list[int], first: str, previous: str) -> list[str]:
    """Return each stage's count with its share of the first stage and of the one before."""
    texts = []
    for index, n in enumerate(reached):
        parts = [f"{n:,}"]
        if index and reached[0]:
            parts.append(f"{100 * n / reached[0]:.0f}% {first}")
        if index and reached[index - 1]:
            parts.append(f"{100 * n / reached[index - 1]:.0f}% {previous}")
        texts.append(" · ".join(parts))
    return texts


def funnel_figure(
    stages: list[dict],
    *,
    title: str,
    of_first: str = "of the first stage",
    of_previous: str = "of the stage before",
) -> go.Figure:
    """Return the funnel: profiles that reached each stage, with the share of the first stage
    and of the stage before (texts written here, in the page's language: plotly's own
    "of initial" would stay English).

    ``stages`` are the ``stages`` rows of ``journeys.selectors.funnel`` (``name``, ``reached``).
    """
    reached = [stage["reached"] for stage in stages]
    fig = go.Figure(
        go.Funnel(
            y=[stage["name"] for stage in stages],
            x=reached,
            text=_funnel_text(reached, of_first, of_previous),
            textinfo="text",
            hovertemplate="%{y}: %{text}<extra></extra>",
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
    counts = counts_by(rows, "stage", "week")
    lines = [
        Series(name, time_labels(weeks, "week"), [counts.get((slug, week), 0) for week in weeks])
        for slug, name in stage_names.items()
    ]
    return lines_figure(lines, title=title, xaxis=TIME_AXIS, yaxis=ZERO_AXIS)


def value_tier_figure(rows: list[dict], labels: dict[str, str], *, title: str) -> go.Figure:
    """Return bars of profiles per value tier; ``rows`` hold ``value_tier`` and ``n``.

    ``labels`` maps tiers to names, in the order drawn; other tiers (e.g. "" before features
    are computed) are summed under the label of "".
    """
    counts: dict[str, int] = {}
    for row in rows:
        tier = row["value_tier"] if row["value_tier"] in labels else ""
        counts[tier] = counts.get(tier, 0) + row["n"]
    tiers = [tier for tier in labels if counts.get(tier)]
    fig = go.Figure(go.Bar(x=[labels[tier] for tier in tiers], y=[counts[tier] for tier in tiers]))
    fig.update_layout(title=title, yaxis=ZERO_AXIS)
    return fig


def rfm_heatmap_figure(rows: list[dict], *, title: str, r_label: str, f_label: str) -> go.Figure:
    """Return a heat map of profiles by R score (rows) and F score (columns), scores 1-5.

    ``rows`` hold ``r_score``, ``f_score`` and ``n``; profiles without scores are left out.
    """
    scores = [1, 2, 3, 4, 5]
    scored = (row for row in rows if row["r_score"] in scores and row["f_score"] in scores)
    counts = counts_by(scored, "r_score", "f_score")
    z = [[counts.get((r, f), 0) for f in scores] for r in scores]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"F{f}" for f in scores],
            y=[f"R{r}" for r in scores],
            colorscale="Blues",
            texttemplate="%{z}",
            hovertemplate="%{y} · %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis={"title": f_label}, yaxis={"title": r_label})
    return fig


def tag_coverage_figure(tags: list[dict], total: int, *, title: str) -> go.Figure:
    """Return horizontal bars of the most carried tags, with the share of all profiles.

    ``tags`` hold ``label``, ``category`` and ``n``; ``total`` is the number of profiles.
    """
    tags = list(reversed(tags))  # the most carried on top
    fig = go.Figure(
        go.Bar(
            x=[tag["n"] for tag in tags],
            y=[f"{tag['label']} ({tag['category']})" for tag in tags],
            orientation="h",
            text=[f"{100 * tag['n'] / total:.1f}%" if total else "" for tag in tags],
            textposition="auto",
        )
    )
    fig.update_layout(title=title, height=max(300, 26 * len(tags) + 120))
    return fig


def segments_trend_figure(segments: list[dict], *, title: str) -> go.Figure:
    """Return one line per segment: its size at the end of each local day with a run
    (``trend`` rows of ``at``, ``size``). A segment without runs in the period is left out."""
    lines = []
    for segment in segments:
        days, sizes = last_per_day((point["at"], point["size"]) for point in segment["trend"])
        if days:
            lines.append(Series(f"{segment['name']} ({segment['size']})", days, sizes))
    return lines_figure(lines, title=title, xaxis=TIME_AXIS, yaxis=ZERO_AXIS)


def campaigns_rates_figure(rows: list[dict], labels: dict[str, str], *, title: str) -> go.Figure:
    """Return grouped bars of recent campaigns' rates in percent, one group per campaign.

    ``rows`` hold ``name`` and, for each key of ``labels``, a fraction or None.
    """
    names = [row["name"] for row in rows]
    bars = [
        Series(label, names, [percent(row[metric]) for row in rows])
        for metric, label in labels.items()
    ]
    return bars_figure(bars, title=title, barmode="group", yaxis=PERCENT_AXIS)
