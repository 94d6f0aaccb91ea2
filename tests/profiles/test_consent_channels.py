"""The consent channels of WeChat, WeCom and app push, on every screen and interface of consent."""

import re

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from profiles.models import ConsentChannel, ConsentRecord, ConsentSource, ConsentStatus
from profiles.selectors import consent_overview
from profiles.services.consent import ConsentEntry, consent_current, consent_record
from profiles.services.consent_import import consent_import_file
from profiles.services.consent_links import consent_preferences_url
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NEW_CHANNELS = ("wechat", "wecom", "push")


def grant(profile, channel: str) -> None:
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel=channel, purpose="marketing",
            status=ConsentStatus.GRANTED, source=ConsentSource.WEB_FORM,
        )
    )  # fmt: skip


def test_the_channels_are_labelled_in_chinese():
    with translation.override("zh-hans"):
        labels = {value: str(label) for value, label in ConsentChannel.choices}

    assert (labels["wechat"], labels["wecom"], labels["push"]) == ("微信", "企业微信", "App 推送")


def test_the_360_consent_section_lists_each_new_channel(ops_client):
    profile = ProfileFactory(external_id="c-1")
    grant(profile, "wechat")

    page = ops_client.get("/profiles/c-1/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    rows = consent_overview(profile=profile)
    assert {row["channel"] for row in rows} >= set(NEW_CHANNELS)
    assert [row["state"].status for row in rows if row["state"]] == [ConsentStatus.GRANTED]
    consent = page.split('id="consent"')[1]
    assert "微信" in consent and "企业微信" in consent and "App 推送" in consent


def test_the_consent_api_appends_a_wecom_grant(consent_admin):
    profile = ProfileFactory(external_id="c-1")
    client = APIClient()
    client.force_authenticate(consent_admin)

    response = client.post(
        "/api/v1/consents/",
        {"external_id": "c-1", "channel": "wecom", "purpose": "marketing", "status": "granted"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert consent_current(profile=profile)[("wecom", "marketing")].status == "granted"


def test_a_consent_file_grants_push_and_withdraws_wechat(tmp_path, uploads_root):
    profile = ProfileFactory(external_id="c-1")
    grant(profile, "wechat")
    path = tmp_path / "consents.csv"
    path.write_text(
        "external_id,channel,purpose,status\n"
        "c-1,push,marketing,granted\n"
        "c-1,wechat,marketing,withdrawn\n",
        encoding="utf-8",
    )

    report = consent_import_file(source=path)

    current = consent_current(profile=profile)
    assert not report.errors
    assert current[("push", "marketing")].status == ConsentStatus.GRANTED
    assert current[("wechat", "marketing")].status == ConsentStatus.WITHDRAWN


def test_the_preference_page_offers_the_new_channels_and_saves_the_links_own():
    """A grant on another channel than the link's waits for a double opt-in, as for email."""
    profile = ProfileFactory()
    url = consent_preferences_url(profile_id=profile.pk, channel="wechat")
    path = re.sub(r"^https?://[^/]+", "", url)
    client = Client()

    page = client.get(path).content.decode()
    client.post(path, {"consent-wechat-marketing": "1", "consent-push-marketing": "1"})

    assert all(f'name="consent-{channel}-marketing"' in page for channel in NEW_CHANNELS)
    saved = ConsentRecord.objects.filter(profile=profile).values_list("channel", "status")
    assert list(saved) == [("wechat", "granted")]
