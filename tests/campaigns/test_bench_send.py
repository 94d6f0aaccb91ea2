"""bench_send runs end to end on a tiny audience and ends with one JSON line of figures."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from campaigns.models import Campaign
from profiles.models import Profile

pytestmark = pytest.mark.worker


@pytest.mark.django_db(transaction=True)
def test_bench_send_measures_the_bare_loop_and_the_delivery_path_and_cleans_up():
    if connection.vendor != "postgresql":
        pytest.skip("bench_send runs on PostgreSQL only (it refuses other databases)")
    out = StringIO()

    call_command("bench_send", recipients=200, stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert figures["recipients"] == 200
    for key in (
        "bare_smtplib_msgs_per_s",
        "project_1_process_msgs_per_s",
        "project_2_process_msgs_per_s",
    ):
        assert figures[key] > 0
    assert figures["ratio_1_process_to_bare"] == pytest.approx(
        figures["project_1_process_msgs_per_s"] / figures["bare_smtplib_msgs_per_s"], abs=0.01
    )
    assert not Profile.objects.filter(external_id__startswith="bench-send-").exists()
    assert not Campaign.objects.filter(slug__startswith="bench-send-").exists()
