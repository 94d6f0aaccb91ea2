"""The chart fragments: plotly's white template and the page margins, in every figure."""

import json
import re

import plotly.graph_objects as go
import plotly.io as pio
from plotly.utils import PlotlyJSONEncoder

from core import charts
from profiles.charts import touchpoint_bars_figure


def plotted_layout(html: str) -> dict:
    """Return the layout object a fragment gives Plotly.newPlot (from plotly's own HTML, or
    from the JSON data block of ours)."""
    arguments = re.search(
        r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{\"displaylogo\"", html, re.S
    )
    if arguments:
        return json.loads(arguments.group(2))
    block = re.search(
        r'<script type="application/json" data-chart-for="[^"]+">(.*?)</script>', html
    )
    assert block, html[:500]
    return json.loads(block.group(1))["layout"]


def test_a_fragment_carries_the_white_template_and_the_margins():
    figure = touchpoint_bars_figure(
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
    assert '"config":{"displaylogo":false,"responsive":true}' in html


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


def test_lines_and_bars_draw_one_trace_per_series_with_its_extra_attributes():
    lines = charts.lines_figure(
        [
            charts.Series("Opened", [1, 2], [3, 4]),
            charts.Series("Clicked", [1, 2], [1, 0], {"hovertemplate": "%{y}"}),
        ],
        title="Timeline",
        yaxis=charts.ZERO_AXIS,
    )
    bars = charts.bars_figure(
        [charts.Series("A", ["x"], [50.0])],
        title="Rates",
        barmode="group",
        yaxis=charts.PERCENT_AXIS,
    )

    assert [(t.name, t.mode, list(t.y)) for t in lines.data] == [
        ("Opened", "lines+markers", [3, 4]),
        ("Clicked", "lines+markers", [1, 0]),
    ]
    assert lines.data[1].hovertemplate == "%{y}"
    assert lines.layout.title.text == "Timeline" and lines.layout.yaxis.rangemode == "tozero"
    assert bars.data[0].type == "bar" and bars.layout.barmode == "group"
    assert bars.layout.yaxis.ticksuffix == "%"


def test_counts_are_summed_by_one_key_or_a_tuple_of_keys():
    rows = [
        {"kind": "open", "hour": 1, "n": 2},
        {"kind": "open", "hour": 1, "n": 3},
        {"kind": "click", "hour": 2, "n": 1},
    ]

    assert charts.counts_by(rows, "kind", "hour") == {("open", 1): 5, ("click", 2): 1}
    assert charts.counts_by(rows, "kind") == {"open": 5, "click": 1}
    assert charts.percent(0.125) == 12.5 and charts.percent(None) is None


def test_a_fragment_holds_no_script_to_run_and_no_markup_inside_its_data():
    figure = go.Figure()
    figure.add_bar(x=["</script><script>alert(1)</script>"], y=[1], name="<b>&")

    html = charts.figure_html(figure)

    assert "newPlot" not in html and "style=" not in html
    assert html.count("<script") == 1 and '<script type="application/json"' in html
    assert "</script><script>" not in html.split('type="application/json"', 1)[1][:-15]
