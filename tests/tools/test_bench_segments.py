"""bench_segments measures three rules against three hand-written forms each, and a refresh."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from segments.models import Segment
from tools.demo import demo_seed

pytestmark = pytest.mark.django_db


def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("bench_segments runs on PostgreSQL only (its hand-written SQL is)")


def test_bench_segments_prints_each_form_the_best_and_the_refresh_and_cleans_up():
    _postgresql_only()
    demo_seed(profiles=400, events=6000, seed=7)
    out = StringIO()

    call_command("bench_segments", repeat=1, segments=3, stdout=out)

    lines = out.getvalue().strip().splitlines()
    figures = json.loads(lines[-1])
    assert set(figures["rules"]) == {"selective", "broad", "any_mix"}
    for name, rule in figures["rules"].items():
        forms = {form: rule[f"{form}_s"] for form in ("grouped", "correlated", "lateral")}
        assert forms[rule["best_form"]] == min(forms.values())
        assert rule["ratio_to_best"] == pytest.approx(
            rule["product_s"] / forms[rule["best_form"]], rel=0.25
        )
        # its queries alone, within the whole evaluation (on this little data, maybe 0.000 s)
        assert 0 <= rule["product_query_s"] <= rule["product_s"]
        assert rule["plan"]["plan"] in ("grouped", "correlated")
        printed = [line for line in lines if line.startswith(f"{name}: ")]  # each form's time
        assert len(printed) == 1 and "of which its queries" in printed[0]
    assert figures["reevaluate_rows_written"] == 0
    assert figures["refresh_many_again_rows_written"] == 0
    assert figures["refresh_many_ratio_to_hand"] == pytest.approx(
        figures["refresh_many_first_s"] / figures["refresh_many_hand_s"], rel=0.25
    )
    assert not Segment.objects.filter(slug__startswith="bench-").exists()


def test_bench_segments_refuses_sqlite():
    if connection.vendor == "postgresql":
        pytest.skip("the refusal is for other databases")

    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench_segments", stdout=StringIO())
