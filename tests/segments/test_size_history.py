"""Size over time: buckets that suit the span, in the local time zone, never a time axis."""

import datetime
import json
import re
from zoneinfo import ZoneInfo

import pytest

from segments.charts import DAYS, HOURS, WEEKS, SizePoint, size_buckets, size_history_figure

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_few_hours_are_shown_hour_by_hour_in_local_time():
    points = [SizePoint(at("2025-03-01 01:10"), 5), SizePoint(at("2025-03-01 03:50"), 8)]

    unit, buckets = size_buckets(points, tz=SHANGHAI)

    assert unit == HOURS
    assert buckets == [("03-01 09:00", 5), ("03-01 10:00", 5), ("03-01 11:00", 8)]


def test_weeks_of_runs_are_shown_day_by_day_keeping_the_last_size_of_each_day():
    points = [
        SizePoint(at("2025-03-01 15:00"), 1),  # 23:00 local, 1 March
        SizePoint(at("2025-03-01 17:00"), 2),  # 01:00 local, 2 March
        SizePoint(at("2025-03-02 10:00"), 3),  # later on 2 March: the day's size
        SizePoint(at("2025-03-05 10:00"), 4),
    ]

    unit, buckets = size_buckets(points, tz=SHANGHAI)

    assert unit == DAYS
    assert buckets == [
        ("2025-03-01", 1),
        ("2025-03-02", 3),
        ("2025-03-03", 3),  # no run: the size stayed
        ("2025-03-04", 3),
        ("2025-03-05", 4),
    ]


def test_months_of_runs_are_shown_by_week_starting_monday():
    points = [SizePoint(at("2025-01-01 00:00"), 10), SizePoint(at("2025-06-01 00:00"), 20)]

    unit, buckets = size_buckets(points, tz=SHANGHAI)

    assert unit == WEEKS
    assert buckets[0] == ("2024-12-30", 10)  # the Monday of 2025-01-01's week
    assert buckets[-1] == ("2025-05-26", 20)
    assert len(buckets) == 22
    weekdays = {datetime.date.fromisoformat(label).weekday() for label, _size in buckets}
    assert weekdays == {0}


def test_no_runs_make_no_buckets():
    assert size_buckets([], tz=SHANGHAI) == (DAYS, [])


def test_the_chart_has_a_category_axis_not_a_time_axis():
    figure = size_history_figure([("2025-03-01", 1), ("2025-03-02", 3)], title="t", size_label="n")

    layout = json.loads(figure.to_json())["layout"]

    assert layout["xaxis"]["type"] == "category"
    assert list(figure.data[0].x) == ["2025-03-01", "2025-03-02"]


@pytest.mark.parametrize("hours", [0, 1, 47, 48])
def test_labels_are_hours_up_to_two_days(hours):
    start = at("2025-03-01 00:00")
    points = [SizePoint(start, 1), SizePoint(start + datetime.timedelta(hours=hours), 2)]

    unit, buckets = size_buckets(points, tz=SHANGHAI)

    assert unit == HOURS and len(buckets) == hours + 1
    assert all(re.fullmatch(r"\d\d-\d\d \d\d:00", label) for label, _size in buckets)
