"""A campaign triggered by entering a journey stage gets each profile entering after it started."""

import datetime

import pytest

from campaigns.models import Campaign, Send, Variant
from journeys.services import stage_triggers_process, stages_refresh
from tests.factories import EventFactory, ProfileFactory
from tests.journeys.conftest import NOW

pytestmark = pytest.mark.django_db


def buyer(external_id: str, purchases: int = 1):
    profile = ProfileFactory(external_id=external_id)
    for day in range(purchases):
        EventFactory(
            profile=profile, name="purchase", occurred_at=NOW - datetime.timedelta(days=day + 1)
        )
    return profile


@pytest.fixture
def welcome(journey):
    campaign = Campaign.objects.create(
        name="首购欢迎", slug="welcome-buyers", channel="email", kind=Campaign.Kind.TRIGGERED,
        trigger_stage="buy", status=Campaign.Status.SENDING, started_at=NOW,
    )  # fmt: skip
    Variant.objects.create(campaign=campaign, key="A", subject="谢谢", body_text="Hi", weight=100)
    return campaign


def test_only_profiles_entering_the_stage_after_the_start_get_the_message(welcome):
    buyer("early")
    stages_refresh(now=NOW - datetime.timedelta(hours=1))  # before the campaign started
    buyer("late")
    stages_refresh(now=NOW + datetime.timedelta(hours=1))

    added = stage_triggers_process()
    again = stage_triggers_process()

    ledger = set(
        Send.objects.filter(campaign=welcome).values_list("profile__external_id", flat=True)
    )
    assert ledger == {"late"}
    assert (added, again) == (1, 0)


def test_a_profile_skipping_past_the_stage_does_not_trigger_it(welcome):
    buyer("fast", purchases=2)  # goes straight to "rebuy": never entered "buy"

    stages_refresh(now=NOW + datetime.timedelta(hours=1))

    assert stage_triggers_process() == 0
