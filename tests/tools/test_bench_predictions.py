"""bench_predictions runs a whole refresh on the database's data and prints its figures."""

import datetime
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from predictions.models import Prediction
from tools.demo import demo_seed

pytestmark = pytest.mark.django_db


def test_bench_predictions_times_each_phase_next_to_the_plain_aggregate(settings):
    if connection.vendor != "postgresql":
        pytest.skip("bench_predictions runs on PostgreSQL only (it refuses other databases)")
    settings.PREDICTIONS_CLUSTERS = 4
    demo_seed(profiles=800, events=20000, seed=3, anchor=datetime.date.today())
    out = StringIO()

    call_command("bench_predictions", stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    # On so little demo data the models may not beat recency: then the run keeps old scores.
    assert figures["status"] in ("live", "kept")
    names = ["features", "models", "clusters", "rules", "write"]
    if figures["status"] == "live":
        assert figures["scored"] == Prediction.objects.count() > 0
    else:
        names = names[:2]
        assert figures["message"]
    assert [p["name"] for p in figures["phases"]] == names
    assert figures["refresh_seconds"] >= sum(p["seconds"] for p in figures["phases"])
    assert figures["plain_aggregate_seconds"] > 0 and figures["peak_mb"] > 0
    assert figures["purchasers"] >= figures["scored"]


def test_bench_predictions_refuses_sqlite():
    if connection.vendor == "postgresql":
        pytest.skip("the refusal is for other databases than PostgreSQL")

    with pytest.raises(CommandError, match="PostgreSQL only"):
        call_command("bench_predictions", stdout=StringIO())
