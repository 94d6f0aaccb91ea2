"""Any external ID a profile can be stored with can be opened, looked up, erased and merged into:
IDs holding "/" or equal to a route word of the profiles pages never collide with another page."""

import pytest
from django.urls import resolve, reverse

from profiles.converters import external_id_to_url
from profiles.models import Profile
from profiles.services.privacy import erased_external_id
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

AWKWARD_IDS = [
    "shop/42",
    "a/b/c/",
    "consent",
    "tags",
    "import",
    "features",
    "report",  # collides with consent/report/
    "audit",
    "~tilde",
    ".",
    "..",
    "a b?c#d%e",
    "张/三",
]


@pytest.mark.parametrize("external_id", AWKWARD_IDS)
def test_the_360_page_opens_for_any_external_id(client, consent_admin, external_id):
    ProfileFactory(external_id=external_id, name="Awkward")
    client.force_login(consent_admin)
    url = reverse("profiles:detail", args=[external_id])

    response = client.get(url)

    assert response.status_code == 200
    assert response.context["profile"].external_id == external_id
    segments = url.split("/")
    assert "." not in segments and ".." not in segments
    assert resolve(url).url_name == "detail"


@pytest.mark.parametrize("external_id", AWKWARD_IDS)
def test_the_consent_history_opens_for_any_external_id(client, consent_admin, external_id):
    ProfileFactory(external_id=external_id)
    client.force_login(consent_admin)

    response = client.get(reverse("profiles:consent-history", args=[external_id]))

    assert response.status_code == 200
    assert response.context["profile"].external_id == external_id


@pytest.mark.parametrize("external_id", ["shop/42", "consent", "tags", "..", "~tilde"])
def test_a_profile_with_an_awkward_external_id_can_be_erased(client, consent_admin, external_id):
    profile = ProfileFactory(external_id=external_id, email="li.lei@example.com")
    client.force_login(consent_admin)

    response = client.post(
        reverse("profiles:erase", args=[external_id]), {"reason": "ticket 9", "confirm": "on"}
    )

    profile.refresh_from_db()
    assert response.status_code == 302
    assert profile.external_id == erased_external_id(external_id)
    assert profile.email == ""
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize("external_id", ["shop/42", "consent", "~tilde", ".."])
def test_a_duplicate_merges_into_a_profile_with_an_awkward_external_id(
    client, ops_user, external_id
):
    target = ProfileFactory(external_id=external_id)
    ProfileFactory(external_id="dup-1")
    client.force_login(ops_user)

    client.post(reverse("profiles:merge", args=[external_id]), {"source": "dup-1", "confirm": "on"})

    assert not Profile.objects.filter(external_id="dup-1").exists()
    assert target.merges_received.count() == 1


@pytest.mark.parametrize("external_id", ["shop/42", "consent", "~tilde", "a b?c#d%e"])
def test_the_api_shows_a_profile_with_an_awkward_external_id(client, ops_user, external_id):
    ProfileFactory(external_id=external_id)
    client.force_login(ops_user)

    url = reverse("api:profiles:profile-detail", args=[external_id_to_url(external_id)])

    response = client.get(url)

    assert response.status_code == 200
    assert response.json()["external_id"] == external_id


@pytest.mark.parametrize("external_id", ["shop/42", "consent", "features", ".."])
def test_a_profile_with_an_awkward_external_id_can_be_exported(client, consent_admin, external_id):
    ProfileFactory(external_id=external_id)
    client.force_login(consent_admin)

    response = client.post(reverse("profiles:export", args=[external_id]), {"reason": "ticket"})

    assert response.status_code == 200
    assert response.json()["profile"]["external_id"] == external_id
    assert "/" not in response["Content-Disposition"].split("filename=")[1]
