"""Plotly figures of the prediction pages, built by pure functions from the refresh's report."""

import plotly.graph_objects as go

from core.charts import (
    PERCENT_AXIS,
    TIME_AXIS,
    Series,
    bars_figure,
    lines_figure,
    percent,
    time_labels,
)


def calibration_figure(
    curves: dict[str, list[dict]], *, title: str, predicted_label: str, observed_label: str
) -> go.Figure:
    """Return observed against predicted rate by decile, one line per model, and the diagonal.

    ``curves`` maps a model's name to its ``calibration`` rows (``decile``, ``predicted``,
    ``observed``, ``count``) of the report; a perfectly calibrated model lies on the diagonal.
    """
    highest = max(
        (max(row["predicted"], row["observed"]) for rows in curves.values() for row in rows),
        default=1.0,
    )
    top = percent(min(1.0, highest))
    lines = [
        Series(
            name,
            [percent(row["predicted"]) for row in rows],
            [percent(row["observed"]) for row in rows],
            {
                "customdata": [[row["decile"], row["count"]] for row in rows],
                "hovertemplate": "%{customdata[0]}: %{x:.1f}% → %{y:.1f}% (n=%{customdata[1]})",
            },
        )
        for name, rows in curves.items()
    ]
    fig = lines_figure(
        lines,
        title=title,
        xaxis={**PERCENT_AXIS, "title": predicted_label},
        yaxis={**PERCENT_AXIS, "title": observed_label},
        height=380,
        legend={"orientation": "h", "y": -0.25},
    )
    fig.add_scatter(
        x=[0, top], y=[0, top], mode="lines", line={"dash": "dot", "color": "#9ca3af"},
        hoverinfo="skip", showlegend=False,
    )  # fmt: skip
    return fig


def importances_figure(rows: list[tuple[str, float]], *, title: str) -> go.Figure:
    """Return horizontal bars of each feature's importance, the most important on top."""
    ordered = sorted(rows, key=lambda row: row[1])
    return bars_figure(
        [
            Series(
                None,
                [importance for _label, importance in ordered],
                [label for label, _importance in ordered],
                {"orientation": "h"},
            )
        ],
        title=title,
        height=max(260, 26 * len(rows) + 100),
        yaxis={"automargin": True},
    )


def auc_history_figure(
    runs: list[dict], names: dict[str, str], *, title: str, auc_label: str
) -> go.Figure:
    """Return the held-out AUC of each model over the refreshes (``at`` and one key per model)."""
    return lines_figure(
        [
            Series(
                label,
                time_labels((run["at"] for run in runs), "minute"),
                [run.get(key) for run in runs],
            )
            for key, label in names.items()
        ],
        title=title,
        xaxis=TIME_AXIS,
        yaxis={"title": auc_label, "range": [0.4, 1.0]},
        height=320,
        legend={"orientation": "h", "y": -0.25},
    )


def portrait_figure(rows: list[tuple[str, float]], *, title: str, index_label: str) -> go.Figure:
    """Return horizontal bars of an index (100 = like everyone), with the line at 100 drawn."""
    ordered = list(reversed(rows))
    fig = bars_figure(
        [
            Series(
                None,
                [index for _label, index in ordered],
                [label for label, _index in ordered],
                {
                    "orientation": "h",
                    "marker": {
                        "color": ["#2563eb" if i >= 100 else "#f59e0b" for _l, i in ordered]
                    },
                },
            )
        ],
        title=title,
        height=max(260, 26 * len(rows) + 100),
        xaxis={"title": index_label, "rangemode": "tozero"},
        yaxis={"automargin": True},
    )
    fig.add_vline(x=100, line={"dash": "dot", "color": "#6b7280"})
    return fig
