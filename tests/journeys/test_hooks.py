"""The stage-changed hook: a refresh that moved profiles tells the receivers, once committed."""

import datetime
import logging

import pytest
from django.db import transaction

from journeys.hooks import stage_changed_register, stage_changed_unregister
from journeys.models import StageTransition
from journeys.services import stages_refresh
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory
from tests.journeys.conftest import NOW

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


@pytest.fixture
def received():
    """Register a receiver for the test; return the list of the counts it was given."""
    calls: list[int] = []
    stage_changed_register(calls.append)
    yield calls
    stage_changed_unregister(calls.append)


@pytest.fixture
def people(journey):
    """A visitor (one page view) and a buyer (one purchase)."""
    yesterday = NOW - datetime.timedelta(days=1)
    EventFactory(profile=ProfileFactory(external_id="visitor"), occurred_at=yesterday)
    PurchaseFactory(profile=ProfileFactory(external_id="buyer"), occurred_at=yesterday)


def test_a_refresh_that_moves_profiles_passes_the_count_after_commit(
    people, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        figures = stages_refresh(now=NOW)
        assert received == []

    assert figures["moved"] == 2
    assert received == [2]
    assert StageTransition.objects.count() == 2


def test_a_refresh_that_moves_nobody_passes_nothing(
    people, received, django_capture_on_commit_callbacks
):
    stages_refresh(now=NOW)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        stages_refresh(now=NOW)

    assert callbacks == []
    assert received == []


def test_nothing_is_passed_when_the_transaction_rolls_back(
    people, received, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        stages_refresh(now=NOW)
        raise Boom

    assert received == []
    assert not StageTransition.objects.exists()


def test_a_raising_receiver_is_logged_and_the_refresh_stands(
    people, django_capture_on_commit_callbacks, caplog
):
    def broken(moved):
        raise Boom("receiver broke")

    stage_changed_register(broken)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="core.hooks"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            figures = stages_refresh(now=NOW)
    finally:
        stage_changed_unregister(broken)

    assert figures["moved"] == 2
    assert StageTransition.objects.count() == 2
    assert "journeys.stage_changed" in caplog.text
