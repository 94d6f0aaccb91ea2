"""The channel registry: a channel is one module, and the ledger's guarantees come with it.

``NoteChannel`` below is a whole channel written in this test module, as a third party would:
it declares its address field, consent channel and content parts, and the send loop, guards,
reachable audience and suppression work for it without any other edit.
"""

import datetime

import pytest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.channels import (
    ChannelSpec,
    ContentField,
    channel_choices,
    channel_get,
    channels_all,
    offered_choices,
    register,
)
from campaigns.channels import base as channels_base
from campaigns.delivery import campaign_send
from campaigns.delivery.transports import Outcome
from campaigns.forms import CampaignForm
from campaigns.models import Campaign, Send, Suppression, Variant
from campaigns.reach import campaign_reach
from campaigns.services.audience import campaign_start
from campaigns.services.channel_content import fields_check, variant_errors
from tests.campaigns.delivery_builders import consent_set, segment_with
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

sent: list = []


class NoteTransport:
    """Keeps each note; a name starting with "gone" is a dead address, "busy" a transient one."""

    broken = None

    def open(self):
        pass

    def close(self):
        pass

    def send(self, messages, pace):
        outcomes = []
        for message in messages:
            pace()
            if message["to"].startswith("gone"):
                outcomes.append(Outcome("410 no such user", permanent=True, bounce=True))
            elif message["to"].startswith("busy"):
                outcomes.append(Outcome("503 busy"))
            else:
                sent.append(message)
                outcomes.append(Outcome(provider_id=f"note-{len(sent)}"))
        return outcomes


class NoteChannel(ChannelSpec):
    key = "note"
    label = _("Note")
    consent_channel = "email"
    address_field = "name"
    content = (
        ContentField("title", _("Title"), required=True),
        ContentField("kind", _("Kind"), kind="plain"),
        ContentField("data", _("Data"), kind="params"),
    )

    def message(self, row, rendered):
        return {"to": row.address, **rendered}

    def transport(self):
        return NoteTransport()


@pytest.fixture
def note_channel(settings):
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    channels_all()  # the built-in ones first
    register(NoteChannel)
    sent.clear()
    yield channel_get("note")
    del channels_base._registry["note"]


def test_the_built_in_channels_are_registered_in_their_order():
    keys = list(channels_all())
    assert keys[:2] == ["email", "sms"]
    assert channel_get("sms").address_field == "phone"
    assert channel_get("email").tracks_opens and not channel_get("sms").tracks_opens


def test_an_unknown_channel_names_the_known_ones():
    with pytest.raises(KeyError, match=r"no channel is registered as 'fax'.*email"):
        channel_get("fax")


def test_a_key_is_taken_once_and_a_channel_needs_an_address():
    class Other(NoteChannel):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register(type("Email2", (NoteChannel,), {"key": "email"}))
    with pytest.raises(ValueError, match="address_field or an addresses"):
        register(type("Nowhere", (ChannelSpec,), {"key": "nowhere"}))
    with pytest.raises(ValueError, match="1 to 10 characters"):
        register(type("Long", (NoteChannel,), {"key": "a-very-long-key"}))
    assert "nowhere" not in channels_all()
    assert Other.key == "note"


def test_campaign_channels_limits_what_forms_offer(settings):
    settings.CAMPAIGN_CHANNELS = ["sms"]
    assert [key for key, _label in offered_choices()] == ["sms"]
    assert [key for key, _label in CampaignForm().fields["channel"].choices] == ["sms"]
    # stored campaigns of any registered channel still read and send
    assert {"email", "sms"} <= {key for key, _label in channel_choices()}


def test_a_variant_of_a_parted_channel_is_checked_part_by_part(note_channel):
    assert fields_check(note_channel, {}) == {"title": "Title is required."}
    assert fields_check(note_channel, {}, complete=False) == {}
    errors = fields_check(note_channel, {"title": "Hi", "data": {"k1": "{{ nosuch }}"}})
    assert list(errors) == ["data.k1"] and "nosuch" in errors["data.k1"]
    assert "must be pairs" in fields_check(note_channel, {"title": "Hi", "data": ["x"]})["data"]
    assert (
        "no part named colour" in fields_check(note_channel, {"title": "x", "colour": 1})["fields"]
    )
    errors = variant_errors(channel="note", values={"fields": {"title": "{{ name"}})
    assert list(errors) == ["fields.title"]


def _note_campaign(profiles):
    segment = segment_with(profiles, slug="note-readers")
    campaign = Campaign.objects.create(
        name="Notes",
        slug="notes",
        channel="note",
        status=Campaign.Status.SCHEDULED,
        send_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    campaign.include_segments.add(segment)
    Variant.objects.create(
        campaign=campaign,
        key="A",
        weight=100,
        fields={"title": "Hi {{ name }}", "kind": "info", "data": {"city": "{{ city }}"}},
    )
    return campaign


def test_a_registered_channel_sends_through_the_ledger_with_its_guards(note_channel):
    ready = ProfileFactory.create_batch(2, city="Hangzhou")
    gone = ProfileFactory(name="gone-1")
    busy = ProfileFactory(name="busy-1")
    no_consent = ProfileFactory()
    no_address = ProfileFactory(name="")
    consent_set([*ready, gone, busy, no_address], channel="email")
    campaign = _note_campaign([*ready, gone, busy, no_consent, no_address])

    reach = campaign_reach(campaign=campaign)
    stopped = {reason: n for reason, n in reach.stopped.items() if n}
    assert stopped == {Send.SkipReason.NO_CONSENT: 1, Send.SkipReason.NO_ADDRESS: 1}

    campaign_start(campaign_id=campaign.pk)
    campaign_send(campaign_id=campaign.pk)

    assert sorted(note["to"] for note in sent) == sorted(p.name for p in ready)
    assert {note["title"] for note in sent} == {f"Hi {p.name}" for p in ready}
    assert all(note["kind"] == "info" and note["data"] == {"city": "Hangzhou"} for note in sent)
    rows = {row.profile_id: row for row in Send.objects.filter(campaign=campaign)}
    assert {rows[p.pk].status for p in ready} == {Send.Status.SENT}
    assert rows[ready[0].pk].message_id.startswith("note-")
    assert rows[gone.pk].status == Send.Status.FAILED and "410" in rows[gone.pk].error
    assert Suppression.objects.filter(channel="note", address="gone-1").exists()
    assert rows[busy.pk].status == Send.Status.QUEUED and rows[busy.pk].attempts == 1
    assert rows[no_consent.pk].skip_reason == Send.SkipReason.NO_CONSENT
    assert rows[no_address.pk].skip_reason == Send.SkipReason.NO_ADDRESS


def test_a_part_that_cannot_render_fails_its_row_with_the_reason(note_channel):
    profile = ProfileFactory(name="li")
    consent_set([profile], channel="email")
    campaign = _note_campaign([profile])
    campaign.variants.update(fields={"title": "{{ 1 // 0 }}"})
    campaign_start(campaign_id=campaign.pk)
    campaign_send(campaign_id=campaign.pk)
    row = Send.objects.get(campaign=campaign)
    assert row.status == Send.Status.FAILED
    assert "title: This template cannot be rendered" in row.error and "by zero" in row.error
    assert sent == []


def test_a_test_message_goes_out_on_the_channel_with_its_parts(note_channel, django_user_model):
    from django.core.exceptions import ValidationError

    from campaigns.models import CampaignChange
    from campaigns.services.workflow import campaign_test_send

    user = django_user_model.objects.create_user("manager")
    profile = ProfileFactory(name="li", city="Ningbo")
    campaign = _note_campaign([profile])
    variant = campaign.variants.get()
    rendered = campaign_test_send(
        campaign=campaign, variant=variant, to="wang", profile=profile, user=user
    )
    assert rendered == {"title": "Hi li", "kind": "info", "data": {"city": "Ningbo"}}
    assert sent == [{"to": "wang", **rendered}]
    assert CampaignChange.objects.filter(campaign=campaign, detail__to="wang").exists()
    with pytest.raises(ValidationError, match="not a valid address"):
        campaign_test_send(campaign=campaign, variant=variant, to=" ", profile=None, user=user)
    with pytest.raises(ValidationError, match="could not be sent: 410 no such user"):
        campaign_test_send(campaign=campaign, variant=variant, to="gone-2", profile=None, user=user)
