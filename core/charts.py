"""What every chart shares: the plotly template, margins and config, series, axes, HTML fragments.

Pure functions: the apps' ``charts.py`` build their figures from plain rows with these.

Time goes on a category axis of local labels (``time_labels``), one per bucket (a day, an hour
…): plotly would draw one to three points on an axis of milliseconds, in UTC. A chart with
nothing to draw is a sentence, not bare axes (``figure_html``). Plotly's own words (the mode
bar's buttons) are translated through our catalogue and handed to plotly as its locale.
"""

import datetime
import functools
import json
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import plotly.graph_objects as go
import plotly.io as pio
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _
from plotly.utils import PlotlyJSONEncoder

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
TEMPLATE = "plotly_white"
MARGIN = {"l": 40, "r": 10, "t": 40, "b": 40}

ZERO_AXIS = {"rangemode": "tozero"}
PERCENT_AXIS = {"rangemode": "tozero", "ticksuffix": "%"}
# Labels "YYYY-MM-DD[ HH:MM]" sort as the times they name, whichever trace holds them first.
TIME_AXIS = {"type": "category", "categoryorder": "category ascending"}

# How a bucket's start is labelled (the date format of every page: Y-m-d H:i, local time).
TIME_FORMATS = {
    "day": "%Y-%m-%d",
    "week": "%Y-%m-%d",
    "month": "%Y-%m",
    "hour": "%Y-%m-%d %H:00",
    "minute": "%Y-%m-%d %H:%M",
}

EMPTY = gettext_noop("Nothing to show yet.")

# The words plotly.js itself shows on our charts (the mode bar, zooming, legends, downloads),
# by its own English text: the locale handed to plotly translates them (``plotly_locale``).
PLOTLY_WORDS = (
    gettext_noop("Autoscale"),
    gettext_noop("Box Select"),
    gettext_noop("Compare data on hover"),
    gettext_noop("Double-click on legend to isolate one trace"),
    gettext_noop("Double-click to zoom back out"),
    gettext_noop("Download plot"),
    gettext_noop("Download plot as a PNG"),
    gettext_noop("Image download succeeded"),
    gettext_noop("Lasso Select"),
    gettext_noop("Pan"),
    gettext_noop("Preparing image - this may take a few seconds"),
    gettext_noop("Reset"),
    gettext_noop("Reset axes"),
    gettext_noop("Reset view"),
    gettext_noop("Show closest data on hover"),
    gettext_noop("Sorry, there was a problem downloading your image!"),
    gettext_noop("Toggle Spike Lines"),
    gettext_noop("Toggle show closest data on hover"),
    gettext_noop("Zoom"),
    gettext_noop("Zoom in"),
    gettext_noop("Zoom out"),
)


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


def plotly_locale() -> dict:
    """Return plotly's config entries naming the active language and its translated words.

    English needs none: plotly's own words are English.
    """
    language = get_language() or "en"
    if language.startswith("en"):
        return {}
    words = {word: _(word) for word in PLOTLY_WORDS}
    return {"locale": language, "locales": {language: {"dictionary": words, "format": {}}}}


def _values(trace: Mapping) -> list:
    """Return the numbers a trace draws: its ``z`` (heat maps), else its ``x`` and ``y``."""
    if trace.get("z") is not None:
        return [value for row in trace["z"] for value in row]
    numbers = [] if trace.get("orientation") == "h" else list(trace.get("y") or [])
    if trace.get("orientation") == "h" or trace.get("type") == "funnel":
        numbers = list(trace.get("x") or [])
    return numbers


def has_data(spec: Mapping) -> bool:
    """Return whether a figure (as plotly JSON) draws anything: a line one value that is not
    None, a bar, a funnel or a heat map one value that is neither None nor 0."""
    for trace in spec["data"]:
        nothing = (None,) if trace.get("type", "scatter") == "scatter" else (None, 0)
        if any(value not in nothing for value in _values(trace)):
            return True
    return False


def _empty_html(layout: Mapping, sentence: str) -> str:
    title = layout.get("title", {})
    title = title.get("text", "") if isinstance(title, Mapping) else str(title or "")
    heading = f'<h3 class="chart-title">{escape(title)}</h3>' if title else ""
    return f'<div class="chart-empty">{heading}<p class="muted">{escape(sentence)}</p></div>'


def figure_html(fig: go.Figure, *, empty: str | None = None) -> str:
    """Return the figure as an HTML fragment that ``static/js/charts.js`` draws with plotly.js.

    The figure travels as a JSON data block next to its empty div: no inline script, so pages
    keep a Content-Security-Policy without 'unsafe-inline'. The template goes into the figure's
    JSON, not through ``update_layout``: plotly would copy and validate the whole template
    again for every figure (about 15 ms each). A figure with nothing to draw is its title and
    the sentence ``empty`` (by default "Nothing to show yet."). The chart takes its width from
    its container (``autosize``; charts.js fits it again whenever the container changes).
    """
    spec = fig.to_plotly_json()
    layout = spec["layout"]
    if not has_data(spec):
        return _empty_html(layout, empty or _(EMPTY))
    layout.update(
        margin={**layout.get("margin", {}), **MARGIN}, template=template_json(), autosize=True
    )
    figure = {"data": spec["data"], "layout": layout, "config": {**PLOT_CONFIG, **plotly_locale()}}
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


def time_label(value: datetime.date | datetime.datetime | str, step: str = "day") -> str:
    """Return the label of the bucket starting at ``value`` (a date, or a time shown locally;
    a label already made, such as "2026-01", stays as it is)."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime(TIME_FORMATS[step])


def time_labels(values: Iterable, step: str = "day") -> list[str]:
    """Return ``time_label`` of each value."""
    return [time_label(value, step) for value in values]


def last_per_day(points: Iterable[tuple[datetime.datetime, Any]]) -> tuple[list[str], list]:
    """Return the local days of (moment, value) points and each day's last value, in order."""
    days: dict[str, Any] = {}
    for at, value in sorted(points, key=lambda point: point[0]):
        days[time_label(at)] = value
    return list(days), list(days.values())
