"""The flows admin shows the ledgers and changes nothing but a flow's pause."""

import pytest

from flows.models import Flow
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db

WAIT = {"key": "w", "kind": "wait", "duration": {"days": 1}}


def test_a_superuser_pauses_live_flows_from_the_list(admin_client):
    live = live_flow([WAIT], slug="live")
    archived = live_flow([WAIT], slug="archived")
    Flow.objects.filter(pk=archived.pk).update(status=Flow.Status.ARCHIVED)

    response = admin_client.post(
        "/admin/flows/flow/",
        {"action": "pause_selected", "_selected_action": [live.pk, archived.pk]},
        follow=True,
    )

    assert "1 flow paused." in response.content.decode()
    assert dict(Flow.objects.values_list("slug", "status")) == {
        "live": "paused",
        "archived": "archived",
    }


def test_a_flow_opens_read_only(admin_client):
    flow = live_flow([WAIT], slug="live")

    response = admin_client.get(f"/admin/flows/flow/{flow.pk}/change/")

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
