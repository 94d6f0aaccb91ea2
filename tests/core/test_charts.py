"""The chart fragments: plotly's white template and the page margins, in every figure; local
time labels on category axes, a sentence for an empty chart, plotly's words in Chinese."""

import datetime
import json
import re

import plotly.graph_objects as go
import plotly.io as pio
from django.utils import translation
from plotly.utils import PlotlyJSONEncoder

from campaigns.charts import sends_over_time_figure
from core import charts
from journeys.charts import funnel_figure, segments_trend_figure
from journeys.views import funnel_words
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
    assert '"config":{"displaylogo":false,"responsive":true}' in html  # English: no locale
    assert layout["autosize"] is True


def test_the_fragment_equals_what_update_layout_would_give():
    def figure():
        fig = go.Figure()
        fig.add_scatter(x=[1, 2], y=[3, 4], name="Sent")
        fig.update_layout(title="Sends", margin={"l": 120, "pad": 4})
        return fig

    reference = figure()
    reference.update_layout(margin=charts.MARGIN, template=charts.TEMPLATE, autosize=True)
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


def test_times_are_labelled_by_local_bucket_on_a_category_axis(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    evening_utc = datetime.datetime(2026, 12, 7, 20, 30, tzinfo=datetime.UTC)

    assert charts.time_label(evening_utc) == "2026-12-08"  # 04:30 the next day in Shanghai
    assert charts.time_label(evening_utc, "hour") == "2026-12-08 04:00"
    assert charts.time_label(evening_utc, "minute") == "2026-12-08 04:30"
    assert charts.time_label(datetime.date(2026, 1, 5), "week") == "2026-01-05"
    assert charts.last_per_day(
        [(evening_utc, 3), (evening_utc - datetime.timedelta(hours=1), 2),
         (evening_utc - datetime.timedelta(days=1), 1)]
    ) == (["2026-12-07", "2026-12-08"], [1, 3])  # fmt: skip


def test_a_segment_with_one_to_three_runs_is_drawn_by_day_not_on_a_millisecond_axis():
    at = datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC)
    segments = [{"name": "Big", "size": 3, "trend": [{"at": at, "size": 3}]}]

    layout = plotted_layout(charts.figure_html(segments_trend_figure(segments, title="Sizes")))
    trace = segments_trend_figure(segments, title="Sizes").data[0]

    assert list(trace.x) == ["2026-12-07"]
    assert layout["xaxis"]["type"] == "category"


def test_the_send_volume_is_labelled_by_minute_or_hour_in_local_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    at = datetime.datetime(2026, 12, 7, 2, 5, tzinfo=datetime.UTC)

    minutes = sends_over_time_figure([{"at": at, "n": 4}], title="t", label="Sent", bucket="minute")
    hours = sends_over_time_figure([{"at": at, "n": 4}], title="t", label="Sent", bucket="hour")

    assert list(minutes.data[0].x) == ["2026-12-07 10:05"]
    assert list(hours.data[0].x) == ["2026-12-07 10:00"]
    assert minutes.layout.xaxis.type == "category"


def test_a_chart_with_nothing_to_draw_is_its_title_and_a_sentence_not_bare_axes():
    empty_bars = charts.bars_figure([charts.Series("A", [], [])], title="Recent campaigns")
    no_rates = charts.bars_figure([charts.Series("A", ["x"], [None])], title="Rates")
    zero_line = charts.lines_figure([charts.Series("Size", ["2026-12-07"], [0])], title="Size")

    html = charts.figure_html(empty_bars)

    assert "plotly-graph-div" not in html and "<script" not in html
    assert '<h3 class="chart-title">Recent campaigns</h3>' in html
    assert "Nothing to show yet." in html
    assert "No campaign yet." in charts.figure_html(no_rates, empty="No campaign yet.")
    assert "plotly-graph-div" in charts.figure_html(zero_line)  # a size of 0 is a value


def test_in_chinese_plotly_gets_its_words_translated_and_the_funnel_writes_its_own_shares():
    figure = go.Figure(go.Bar(x=["a"], y=[1]))
    stages = [{"name": "触达", "reached": 10}, {"name": "成交", "reached": 4}]

    with translation.override("zh-hans"):
        html = charts.figure_html(figure)
        words = funnel_words()
        funnel = funnel_figure(stages, title="漏斗", **words)

    config = json.loads(re.search(r'data-chart-for="[^"]+">(.*?)</script>', html).group(1))[
        "config"
    ]
    assert config["locale"] == "zh-hans"
    assert config["locales"]["zh-hans"]["dictionary"]["Reset axes"] == "重置坐标轴"
    assert config["locales"]["zh-hans"]["dictionary"]["Download plot as a PNG"] == "下载图表为 PNG"
    assert list(funnel.data[0].text) == [
        "10",
        f"4 · 40% {words['of_first']} · 40% {words['of_previous']}",
    ]
    assert funnel.data[0].textinfo == "text"  # not plotly's English "of initial"
    assert words["of_first"] == "占第一阶段"
