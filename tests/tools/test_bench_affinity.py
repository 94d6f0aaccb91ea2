"""bench_affinity times the clustering and affinity models on synthetic shoppers and prints JSON."""

import json
from io import StringIO

from django.core.management import call_command


def test_bench_affinity_prints_times_and_sizes_of_each_model():
    out = StringIO()

    call_command("bench_affinity", rows=400, stdout=out)

    result = json.loads(out.getvalue())
    assert result["rows"] == 400
    assert result["purchases"] >= 400
    assert 3 <= result["k"] <= 8
    assert result["rules"] > 0
    assert 0 < result["recommended_mean"] <= 5
    assert all(result[key] >= 0 for key in ("clusters_s", "rules_s", "recommendations_s"))
