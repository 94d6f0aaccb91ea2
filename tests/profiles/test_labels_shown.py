"""Chinese profile pages show labels, not stored names: events, acquisition channel, purpose."""

import datetime
import re

import pytest

from profiles.models import ConsentSource, ConsentStatus
from profiles.services.consent import ConsentEntry, consent_record
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db
AT = datetime.datetime(2026, 3, 1, 6, 5, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_profile_page_names_the_acquisition_channel_and_events(ops_client):
    profile = ProfileFactory(external_id="c-1", channel="wechat")
    EventFactory(profile=profile, name="add_to_cart", occurred_at=AT)

    page = ops_client.get("/profiles/c-1/").content.decode()

    assert '<dd title="wechat">微信</dd>' in page
    assert '<td title="add_to_cart">加入购物车</td>' in page
    assert "wechat" not in visible_text(page) and "add_to_cart" not in visible_text(page)


def test_an_unknown_channel_or_event_is_shown_as_it_is(ops_client):
    profile = ProfileFactory(external_id="c-2", channel="tv_ad_2026")
    EventFactory(profile=profile, name="quiz_done", occurred_at=AT)

    text = visible_text(ops_client.get("/profiles/c-2/").content.decode())

    assert "tv_ad_2026" in text and "quiz_done" in text


def test_the_consent_history_names_the_purpose(client, consent_admin):
    client.force_login(consent_admin)
    profile = ProfileFactory(external_id="c-3")
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose="marketing",
            status=ConsentStatus.GRANTED,
            source=ConsentSource.WEB_FORM,
            recorded_at=AT,
        )
    )

    page = client.get("/profiles/consent/c-3/").content.decode()

    assert '<td title="marketing">营销</td>' in page
    assert "2026-03-01 14:05" in page
