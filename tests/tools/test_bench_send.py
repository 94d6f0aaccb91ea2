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
    # The bare loop runs before, between and after the two project runs.
    bare = figures["bare_smtplib_runs_msgs_per_s"]
    assert len(bare) == 3
    assert all(rate > 0 for rate in bare)
    for workers in (1, 2):
        assert figures[f"project_{workers}_process_msgs_per_s"] > 0
        around = (bare[workers - 1] + bare[workers]) / 2
        assert figures[f"bare_smtplib_around_{workers}_process_msgs_per_s"] == pytest.approx(
            around, abs=1
        )
        assert figures[f"ratio_{workers}_process_to_bare"] == pytest.approx(
            figures[f"project_{workers}_process_msgs_per_s"] / around, rel=0.02
        )
    # Two bare loops at once, on two connections, before and after the 2-process run.
    parallel = figures["bare_2_connections_runs_msgs_per_s"]
    assert len(parallel) == 2
    assert all(rate > 0 for rate in parallel)
    assert figures["ratio_2_process_to_2_connections"] == pytest.approx(
        figures["project_2_process_msgs_per_s"] / (sum(parallel) / 2), rel=0.02
    )
    assert 0 < figures["cpu_busy_2_process"] <= 1
    # CPU time per message: the sending processes (no helper process), the sink, the database.
    for workers in (1, 2):
        cpu = figures[f"cpu_us_per_message_{workers}_process"]
        assert {"worker", "sink"} <= set(cpu)
        assert "relay" not in cpu
        assert cpu["worker"] > 0 and cpu["sink"] > 0
        if connection.settings_dict["HOST"] in ("127.0.0.1", "localhost", ""):
            assert cpu["database"] > 0  # PostgreSQL's processes are on this machine
        assert cpu["all"] == sum(value for name, value in cpu.items() if name != "all")
        bound = figures[f"cpu_bound_{workers}_process_msgs_per_s"]
        # The bound is printed in whole messages per second: allow its rounding on a slow day.
        assert bound == pytest.approx(figures["cpus"] * 1e6 / cpu["all"], rel=0.01, abs=1)
    assert not Profile.objects.filter(external_id__startswith="bench-send-").exists()
    assert not Campaign.objects.filter(slug__startswith="bench-send-").exists()


@pytest.mark.django_db(transaction=True)
def test_bench_send_sms_sends_through_the_fake_aliyun_next_to_a_bare_loop_and_cleans_up():
    if connection.vendor != "postgresql":
        pytest.skip("bench_send runs on PostgreSQL only (it refuses other databases)")
    out = StringIO()

    call_command("bench_send", channel="sms", recipients=100, stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (figures["channel"], figures["recipients"]) == ("sms", 100)
    bare = figures["bare_http_client_runs_msgs_per_s"]
    assert len(bare) == 2 and all(rate > 0 for rate in bare)
    assert figures["project_1_worker_msgs_per_s"] > 0
    assert figures["ratio_1_worker_to_bare"] == pytest.approx(
        figures["project_1_worker_msgs_per_s"] / figures["bare_http_client_msgs_per_s"], rel=0.02
    )
    assert figures["worker_cpu_us_per_message"] > 0
    assert figures["bare_client_cpu_us_per_message"] > 0
    assert "100 in" in out.getvalue()  # every message checked as taken by the fake, both ways
    assert not Profile.objects.filter(external_id__startswith="bench-send-").exists()
    assert not Campaign.objects.filter(slug__startswith="bench-send-").exists()
