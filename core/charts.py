"""What every chart shares: the plotly template, margins and config, series, axes, HTML fragments.

Pure functions: the apps' ``charts.py`` build their figures from plain rows with these.
"""

import functools
import json
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import plotly.graph_objects as go
import plotly.io as pio
from plotly.utils import PlotlyJSONEncoder

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
TEMPLATE = "plotly_white"
MARGIN = {"l": 40, "r": 10, "t": 40, "b": 40}

ZERO_AXIS = {"rangemode": "tozero"}
PERCENT_AXIS = {"rangemode": "tozero", "ticksuffix": "%"}


class Series(NamedTuple):
    """One trace: its legend name, x and y values, and any other plotly trace attributes."""

    name: str | None
    x: Sequence
    y: Sequence
    trace: Mapping[str, Any] = {}


@functools.cache
def template_json() -> dict:
    """Return the charts' plotly template as plain JSON, read from plotly's files once."""
    return pio.templates[TEMPLATE].to_plotly_json()


# Characters that could end a <script> data block or start markup inside it, as JSON escapes.
_JSON_IN_HTML = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def figure_html(fig: go.Figure) -> str:
    """Return the figure as an HTML fragment that ``static/js/charts.js`` draws with plotly.js.

    The figure travels as a JSON data block next to its empty div: no inline script, so pages
    keep a Content-Security-Policy without 'unsafe-inline'. The template goes into the figure's
    JSON, not through ``update_layout``: plotly would copy and validate the whole template
    again for every figure (about 15 ms each).
    """
    spec = fig.to_plotly_json()
    layout = spec["layout"]
    layout.update(margin={**layout.get("margin", {}), **MARGIN}, template=template_json())
    figure = {"data": spec["data"], "layout": layout, "config": PLOT_CONFIG}
    data = json.dumps(figure, cls=PlotlyJSONEncoder, separators=(",", ":"))
    chart_id = f"chart-{uuid.uuid4().hex}"
    return (
        f'<div><div id="{chart_id}" class="plotly-graph-div"></div>'
        f'<script type="application/json" data-chart-for="{chart_id}">'
        f"{data.translate(_JSON_IN_HTML)}</script></div>"
    )


def lines_figure(lines: Iterable[Series], *, title: str, **layout) -> go.Figure:
    """Return one line with markers per series, titled, with any other ``layout`` given."""
    fig = go.Figure()
    for line in lines:
        fig.add_scatter(x=line.x, y=line.y, mode="lines+markers", name=line.name, **line.trace)
    fig.update_layout(title=title, **layout)
    return fig


def bars_figure(bars: Iterable[Series], *, title: str, **layout) -> go.Figure:
    """Return one bar trace per series (``barmode`` in ``layout`` groups or stacks them)."""
    fig = go.Figure()
    for bar in bars:
        fig.add_bar(x=bar.x, y=bar.y, name=bar.name, **bar.trace)
    fig.update_layout(title=title, **layout)
    return fig


def counts_by(rows: Iterable[Mapping], *keys: str, value: str = "n") -> dict[Hashable, int]:
    """Return the sum of ``value`` by the row's ``keys`` (a tuple key, or the value for one key)."""
    counts: dict[Hashable, int] = {}
    for row in rows:
        key = tuple(row[name] for name in keys) if len(keys) > 1 else row[keys[0]]
        counts[key] = counts.get(key, 0) + row[value]
    return counts


def percent(fraction: float | None) -> float | None:
    """Return a fraction as a percentage, None staying None (not measured)."""
    return None if fraction is None else 100 * fraction
