"""The segment-changed hook: a membership change reaches the receivers once committed."""

import io
import logging

import pytest
from django.db import transaction

from segments.hooks import segment_changed_register, segment_changed_unregister
from segments.models import Segment, SegmentTransition
from segments.services import segment_evaluate
from segments.static_lists import static_members_add_csv, static_members_remove_all
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

SHANGHAI = {"all": [{"attr": "city", "op": "eq", "value": "上海"}]}


class Boom(Exception):
    pass


@pytest.fixture
def received():
    """Register a receiver for the test; return the list of the segment ids it was given."""
    calls: list[int] = []
    segment_changed_register(calls.append)
    yield calls
    segment_changed_unregister(calls.append)


@pytest.fixture
def shanghai(db):
    return Segment.objects.create(name="上海用户", slug="shanghai", rule=SHANGHAI)


@pytest.fixture
def static(db):
    return Segment.objects.create(name="VIP", slug="vip", kind=Segment.Kind.STATIC)


def test_an_evaluation_with_entries_passes_the_segment_id_after_commit(
    shanghai, received, django_capture_on_commit_callbacks
):
    ProfileFactory(city="上海")

    with django_capture_on_commit_callbacks(execute=True):
        segment_evaluate(segment_id=shanghai.pk)
        assert received == []

    assert received == [shanghai.pk]
    assert SegmentTransition.objects.filter(segment=shanghai, entered=True).count() == 1


def test_an_evaluation_with_exits_only_passes_it_too(
    shanghai, received, django_capture_on_commit_callbacks
):
    moving = ProfileFactory(city="上海")
    segment_evaluate(segment_id=shanghai.pk)
    moving.city = "北京"
    moving.save()

    with django_capture_on_commit_callbacks(execute=True):
        segment_evaluate(segment_id=shanghai.pk)

    assert received == [shanghai.pk]


def test_an_unchanged_evaluation_passes_nothing(
    shanghai, received, django_capture_on_commit_callbacks
):
    ProfileFactory(city="上海")
    segment_evaluate(segment_id=shanghai.pk)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        segment_evaluate(segment_id=shanghai.pk)

    assert callbacks == []
    assert received == []


def test_static_list_changes_pass_the_segment_id(
    static, received, django_capture_on_commit_callbacks
):
    ProfileFactory(external_id="a")

    with django_capture_on_commit_callbacks(execute=True):
        static_members_add_csv(segment=static, stream=io.BytesIO(b"external_id\na\n"))
        static_members_remove_all(segment=static)

    assert received == [static.pk, static.pk]


def test_nothing_is_passed_when_the_transaction_rolls_back(
    shanghai, received, django_capture_on_commit_callbacks
):
    ProfileFactory(city="上海")

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        segment_evaluate(segment_id=shanghai.pk)
        raise Boom

    assert received == []


def test_a_raising_receiver_is_logged_and_the_evaluation_stands(
    shanghai, django_capture_on_commit_callbacks, caplog
):
    def broken(segment_id):
        raise Boom("receiver broke")

    ProfileFactory(city="上海")
    segment_changed_register(broken)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="core.hooks"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            run = segment_evaluate(segment_id=shanghai.pk)
    finally:
        segment_changed_unregister(broken)

    assert run.error == ""
    assert run.entered == 1
    assert "segments.segment_changed" in caplog.text
