"""bench_ingest loads generated files through the import path next to COPY baselines, end to end."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from profiles.models import Event, Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the import writes over its own connections


def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("bench_ingest runs on PostgreSQL only (COPY; it refuses other databases)")


@pytest.mark.parametrize("page_samples", [0, 2])
def test_bench_ingest_prints_rates_next_to_both_copies_and_removes_what_it_loaded(page_samples):
    _postgresql_only()
    out = StringIO()

    call_command("bench_ingest", profiles=300, events=900, page_samples=page_samples, stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    for kind in ("profiles", "events"):
        ours = figures[f"{kind}_import_rows_per_s"]
        assert ours > 0
        for baseline in ("file", "indexed"):
            copy = figures[f"{kind}_raw_copy_{baseline}_rows_per_s"]
            assert copy > 0
            assert figures[f"{kind}_ratio_to_{baseline}_copy"] == pytest.approx(
                ours / copy, abs=0.002
            )
    # 0 samples: loads only; otherwise the pages are timed on the loaded profiles.
    assert ("detail_ms_median" in figures) == bool(page_samples)
    if page_samples:
        assert figures["profiles_in_table"] == 300
    assert not Profile.objects.exists()
    assert not Event.objects.exists()


def test_bench_ingest_refuses_a_database_that_already_holds_profiles():
    _postgresql_only()
    ProfileFactory()

    with pytest.raises(CommandError, match="empty profile and event tables"):
        call_command("bench_ingest", profiles=10, events=10, page_samples=0, stdout=StringIO())

    assert Profile.objects.count() == 1  # nothing it did not load is removed
