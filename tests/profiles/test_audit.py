"""The audit trail: who viewed, exported and erased a profile, visible to consent admins only."""

import datetime
import io

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.management import call_command
from django.urls import reverse

from profiles.audit import KIND_ERASE, KIND_EXPORT, KIND_VIEW, MASK
from profiles.models import Profile
from profiles.services.privacy import erased_external_id
from tests.factories import ProfileFactory, ProfileTagFactory

pytestmark = pytest.mark.django_db

AUDIT_URL = "/profiles/consent/audit/"


@pytest.fixture
def meimei():
    return ProfileFactory(
        external_id="crm-7", email="meimei@example.com", name="韩梅梅", phone="+8613800138000"
    )


def _kinds(profile) -> list[tuple[str | None, str | None]]:
    entries = LogEntry.objects.filter(additional_data__profile_id=profile.pk).order_by("pk")
    return [
        ((e.additional_data or {}).get("kind"), e.actor.username if e.actor else None)
        for e in entries
    ]


def test_the_audit_page_has_its_url():
    assert reverse("profiles:consent-audit") == AUDIT_URL


def test_viewing_a_profile_is_recorded_with_who_and_when(client, ops_user, meimei):
    client.force_login(ops_user)
    moment = datetime.datetime(2025, 5, 4, 10, 30, tzinfo=datetime.UTC)

    with time_machine.travel(moment, tick=False):
        response = client.get(reverse("profiles:detail", args=[meimei.external_id]))

    assert response.status_code == 200
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert entry.actor == ops_user
    assert entry.timestamp == moment
    assert entry.additional_data == {"profile_id": meimei.pk, "kind": KIND_VIEW}
    assert entry.remote_addr == "127.0.0.1"


def test_exporting_and_erasing_appear_in_the_trail_with_who_asked(
    client, consent_admin, ops_user, meimei
):
    client.force_login(consent_admin)

    exported = client.post(reverse("profiles:export", args=["crm-7"]), {"reason": "ticket 12"})
    erased = client.post(
        reverse("profiles:erase", args=["crm-7"]), {"reason": "ticket 13", "confirm": "on"}
    )

    assert exported.status_code == 200 and erased.status_code == 302
    kinds = _kinds(meimei)
    assert (KIND_EXPORT, "cora-consent") in kinds
    assert (KIND_ERASE, "cora-consent") in kinds
    page = client.get(AUDIT_URL, {"object": "crm-7"}).content.decode()
    assert "Exported personal data" in page
    assert "Erased personal data" in page
    assert "cora-consent" in page
    assert erased_external_id("crm-7") in page  # the profile is shown by its placeholder now


def test_the_trail_keeps_no_personal_data_after_an_erasure(client, consent_admin, meimei):
    ProfileTagFactory(profile=meimei)
    meimei.city = "杭州"
    meimei.save()
    client.force_login(consent_admin)
    client.get(reverse("profiles:detail", args=["crm-7"]))

    client.post(reverse("profiles:erase", args=["crm-7"]), {"reason": "x", "confirm": "on"})

    stored = repr(list(LogEntry.objects.values()))
    for value in ("crm-7", "meimei@example.com", "韩梅梅", "13800138000", "上海", "杭州"):
        assert value not in stored
    update = (
        LogEntry.objects.filter(
            action=LogEntry.Action.UPDATE, additional_data__profile_id=meimei.pk
        )
        .order_by("pk")
        .last()
    )
    assert update.changes["email"] == [MASK, ""]
    assert update.actor == consent_admin


def test_the_audit_page_filters_by_user_action_profile_and_date(
    client, consent_admin, ops_user, campaign_manager, meimei
):
    other = ProfileFactory(external_id="crm-8")
    day = datetime.datetime(2025, 5, 4, 10, 0, tzinfo=datetime.UTC)
    for when, user, profile in (
        (day - datetime.timedelta(days=3), ops_user, meimei),
        (day, campaign_manager, other),
        (day, ops_user, other),
    ):
        with time_machine.travel(when, tick=False):
            client.force_login(user)
            client.get(reverse("profiles:detail", args=[profile.external_id]))
    client.force_login(consent_admin)

    def rows(**params):
        response = client.get(AUDIT_URL, params)
        return [
            (r["entry"].actor.username if r["entry"].actor else None, r["external_id"])
            for r in response.context["rows"]
        ]

    assert rows(action="view") == [
        ("olivia-ops", "crm-8"),
        ("carl-campaigns", "crm-8"),
        ("olivia-ops", "crm-7"),
    ]
    assert rows(actor="olivia") == [("olivia-ops", "crm-8"), ("olivia-ops", "crm-7")]
    assert rows(action="view", object="crm-7") == [("olivia-ops", "crm-7")]
    assert rows(object="crm-7")[-1] == (None, "crm-7")  # its creation, by no one signed in
    assert rows(object="nobody") == []
    assert rows(action="view", date_from="2025-05-03") == [
        ("olivia-ops", "crm-8"),
        ("carl-campaigns", "crm-8"),
    ]
    assert rows(action="view", date_to="2025-05-02") == [("olivia-ops", "crm-7")]
    assert rows(action="export") == []


def test_the_audit_page_pages_newest_first(client, consent_admin, ops_user, meimei):
    client.force_login(ops_user)
    for _ in range(53):
        client.get(reverse("profiles:detail", args=["crm-7"]))
    client.force_login(consent_admin)

    first = client.get(AUDIT_URL, {"actor": "olivia"})
    second = client.get(AUDIT_URL + first.context["next_url"])

    ids = [r["entry"].pk for r in first.context["rows"] + second.context["rows"]]
    assert len(first.context["rows"]) == 50
    assert len(second.context["rows"]) == 3
    assert second.context["next_url"] is None
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 53


def test_only_consent_admins_open_the_audit_trail(client, consent_admin):
    client.force_login(consent_admin)

    response = client.get(AUDIT_URL)

    assert response.status_code == 200


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager", "outsider"])
def test_other_roles_are_refused_the_audit_trail(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(AUDIT_URL)

    assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(AUDIT_URL)

    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_bulk_imports_write_no_audit_entries(tmp_path):
    path = tmp_path / "profiles.csv"
    path.write_text("external_id,email,name\nx-1,a@example.com,A\nx-2,b@example.com,B\n")

    call_command("import_profiles", str(path), "--no-progress", stdout=io.StringIO())

    assert Profile.objects.count() == 2
    assert LogEntry.objects.count() == 0


def test_removing_tags_stays_a_fast_bulk_delete_and_writes_no_entries():
    from django.db.models.deletion import Collector

    from profiles.models import ProfileTag

    ProfileTagFactory.create_batch(3)
    created = LogEntry.objects.count()

    ProfileTag.objects.all().delete()

    assert Collector(using="default").can_fast_delete(ProfileTag.objects.all())
    assert LogEntry.objects.get_for_model(ProfileTag).count() == 3  # their creations
    assert LogEntry.objects.count() == created
