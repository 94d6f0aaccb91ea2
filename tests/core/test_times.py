"""Every page shows a moment one way: local time (TIME_ZONE) as "2026-03-01 14:05"."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from core.models import Job
from core.times import moment_text
from segments.models import Segment

UTC = dt.UTC
MOMENT = dt.datetime(2026, 3, 1, 6, 5, 9, tzinfo=UTC)  # 14:05:09 in Asia/Shanghai


def test_an_aware_moment_is_shown_in_local_time_to_the_minute():
    assert moment_text(MOMENT) == "2026-03-01 14:05"


def test_an_iso_string_in_utc_is_shown_the_same_way():
    assert moment_text("2026-03-01T06:05:09.123456+00:00") == "2026-03-01 14:05"


def test_the_zone_follows_the_time_zone_setting(settings):
    settings.TIME_ZONE = "Europe/Paris"

    with timezone.override("Europe/Paris"):
        assert moment_text(MOMENT) == "2026-03-01 07:05"


def test_nothing_stays_nothing_and_other_text_stays_as_it_is():
    assert moment_text(None) == ""
    assert moment_text("") == ""
    assert moment_text("A") == "A"
    assert moment_text("2026-13-45T99:00") == "2026-13-45T99:00"


@pytest.mark.django_db
def test_job_and_segment_pages_use_the_one_format_in_chinese(ops_client, ops_user, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    job = Job.objects.create(kind="core.selftest", payload={"steps": 1}, created_by=ops_user)
    Job.objects.filter(pk=job.pk).update(created_at=MOMENT)
    Segment.objects.create(slug="vip", name="VIP", kind=Segment.Kind.STATIC, last_run_at=MOMENT)

    pages = [
        ops_client.get(url).content.decode()
        for url in ("/jobs/", f"/jobs/{job.pk}/", "/segments/vip/", "/segments/")
    ]

    for page in pages:
        assert "2026-03-01 14:05" in page
        assert "14:05:09" not in page
        assert not re.search(r"2026年|06:05|CST", page)
