"""Segment rows: validation of the rule on clean(), and the run's duration."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from segments.models import Segment, SegmentRun
from segments.rules import ERROR_MISSING_KEY, ERROR_SEGMENT_CYCLE

pytestmark = pytest.mark.django_db


def test_a_dynamic_segment_with_an_invalid_rule_does_not_clean():
    segment = Segment(name="Broken", slug="broken", rule={"all": [{"attr": "city", "op": "eq"}]})

    with pytest.raises(ValidationError) as caught:
        segment.full_clean()

    assert caught.value.message_dict == {
        "rule": [f"all[0]: {ERROR_MISSING_KEY.format(key='value')}"]
    }


def test_a_segment_whose_rule_reaches_back_to_it_does_not_clean():
    Segment.objects.create(name="Fans", slug="fans", rule={"segment": "loyal"})
    loyal = Segment(name="Loyal", slug="loyal", rule={"not": {"segment": "fans"}})

    with pytest.raises(ValidationError) as caught:
        loyal.full_clean()

    assert caught.value.message_dict == {
        "rule": [f"not.segment: {ERROR_SEGMENT_CYCLE.format(cycle='loyal → fans → loyal')}"]
    }


def test_valid_dynamic_segments_and_static_lists_clean():
    Segment.objects.create(name="Imported", slug="imported", kind=Segment.Kind.STATIC)
    dynamic = Segment(name="Shanghai", slug="shanghai", rule={"segment": "imported"})
    static = Segment(name="List", slug="list", kind=Segment.Kind.STATIC)

    dynamic.full_clean()
    static.full_clean()

    assert static.rule == {}


def test_a_run_knows_its_duration():
    started = timezone.now()
    run = SegmentRun(started_at=started, finished_at=started + datetime.timedelta(seconds=1.5))

    duration, running = run.duration_ms, SegmentRun(started_at=started).duration_ms

    assert (duration, running) == (1500, None)
