"""The chart fragments: plotly's white template and the page margins, in every figure."""

import json
import re

import plotly.graph_objects as go
import plotly.io as pio
from plotly.utils import PlotlyJSONEncoder

from profiles import charts


def plotted_layout(html: str) -> dict:
    """Return the layout object passed to Plotly.newPlot in a fragment."""
    arguments = re.search(
        r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{\"displaylogo\"", html, re.S
    )
    assert arguments, html[:500]
    return json.loads(arguments.group(2))


def test_a_fragment_carries_the_white_template_and_the_margins():
    figure = charts.touchpoint_bars_figure(
        [
            {"month": "2026-01", "channel": "web", "n": 3},
            {"month": "2026-02", "channel": "app", "n": 1},
        ],
        period="month",
        title="Activity",
    )
    html = charts.figure_html(figure)
    layout = plotted_layout(html)
    white = pio.templates["plotly_white"].to_plotly_json()
    assert layout["template"] == json.loads(json.dumps(white, cls=PlotlyJSONEncoder))
    assert layout["margin"] == {"l": 40, "r": 10, "t": 40, "b": 40}
    assert layout["barmode"] == "stack" and layout["title"]["text"] == "Activity"
    assert '"displaylogo": false' in html


def test_the_fragment_equals_what_update_layout_would_give():
    def figure():
        fig = go.Figure()
        fig.add_scatter(x=[1, 2], y=[3, 4], name="Sent")
        fig.update_layout(title="Sends", margin={"l": 120, "pad": 4})
        return fig

    reference = figure()
    reference.update_layout(margin=charts.MARGIN, template=charts.TEMPLATE)
    expected = plotted_layout(
        reference.to_html(full_html=False, include_plotlyjs=False, config=charts.PLOT_CONFIG)
    )
    assert plotted_layout(charts.figure_html(figure())) == expected
    assert expected["margin"] == {**charts.MARGIN, "pad": 4}
