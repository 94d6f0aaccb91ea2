"""bench_flows runs end to end on tiny numbers, with real workers, and ends with one JSON line."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from campaigns.models import Campaign
from flows.models import Flow
from profiles.models import Profile

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_bench_flows_times_events_to_the_smtp_server_and_a_flow_next_to_a_campaign():
    out = StringIO()

    call_command("bench_flows", profiles=150, events=3, event_rate=20, stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert figures["database"] == connection.vendor
    latency = figures["latency"]
    assert latency["events"] == 3
    assert 0 < latency["p50_s"] <= latency["p95_s"] <= latency["max_s"]
    if connection.vendor == "postgresql":
        throughput = figures["throughput"]
        assert throughput["profiles"] == 150
        assert throughput["campaign_msgs_per_s"] > 0
        assert throughput["flow_msgs_per_s"] > 0
        assert throughput["ratio_flow_to_campaign"] == pytest.approx(
            throughput["flow_msgs_per_s"] / throughput["campaign_msgs_per_s"], rel=0.01
        )
        first, second = throughput["rounds"]  # the campaign first, then the flow first
        assert list(first)[:2] == ["campaign", "flow"]
        assert list(second)[:2] == ["flow", "campaign"]
        for run in (first, second):
            assert run["flow"]["count"] == run["campaign"]["count"] == 150
    else:
        assert "throughput" not in figures  # PostgreSQL only; said so, and skipped
        assert "throughput: skipped" in out.getvalue()
    assert not Profile.objects.filter(external_id__startswith="bench-flows-").exists()
    assert not Flow.objects.filter(slug__startswith="bench-flows-").exists()
    assert not Campaign.objects.filter(slug__startswith="bench-flows-").exists()
    assert not get_user_model().objects.filter(username__startswith="bench-flows-").exists()


def test_bench_flows_refuses_the_throughput_run_without_postgresql():
    if connection.vendor == "postgresql":
        pytest.skip("on PostgreSQL the throughput run is what it measures")

    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("bench_flows", only="throughput", stdout=StringIO())
