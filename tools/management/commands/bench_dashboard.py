"""Time the dashboard view's server side, cold (nothing cached) and warm, at the current data size.

Read-only: it renders the page in this process with a request made here (no login, no session,
no write) and forgets the dashboard's cache entries first. The last line is a JSON object.
"""

import json
import statistics
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import RequestFactory

from journeys import selectors
from journeys.views import dashboard
from profiles.models import Event, Profile

TARGET_SECONDS = 1.0


class Command(BaseCommand):
    help = "Time the dashboard (cold and warm) and print the figures, the last line as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--warm-runs", type=int, default=5, help="warm renders to time")

    def _render(self) -> float:
        request = RequestFactory().get("/")
        request.user = get_user_model()(username="bench", is_staff=True, is_superuser=True)
        request.LANGUAGE_CODE = "en"
        started = time.perf_counter()
        response = dashboard(request)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"the dashboard answered {response.status_code}")
        return elapsed

    def handle(self, *args, **options):
        profiles = Profile.objects.order_by().count()
        events_estimate = self._events(Event)
        self.stdout.write(
            f"database: {connection.vendor} {connection.settings_dict.get('NAME')}; "
            f"profiles: {profiles}; events: ~{events_estimate}"
        )
        selectors.dashboard_cache_clear()
        blocks_cold: dict[str, float] = {}
        started = time.perf_counter()
        selectors.dashboard_data(timings=blocks_cold)
        data_cold = time.perf_counter() - started
        for block, seconds in blocks_cold.items():
            self.stdout.write(f"  {block:<10} cold {1000 * seconds:8.1f} ms")
        selectors.dashboard_cache_clear()
        cold = self._render()
        self.stdout.write(f"view cold (nothing cached): {1000 * cold:.1f} ms")
        warm_runs = [self._render() for _ in range(max(options["warm_runs"], 1))]
        warm = statistics.median(warm_runs)
        self.stdout.write(f"view warm (median of {len(warm_runs)}): {1000 * warm:.1f} ms")
        blocks_warm: dict[str, float] = {}
        selectors.dashboard_data(timings=blocks_warm)
        started = time.perf_counter()
        selectors.dashboard_refresh(force=True)  # what beat does in the background
        refresh = time.perf_counter() - started
        self.stdout.write(f"background refresh of every block (beat): {1000 * refresh:.1f} ms")
        self.stdout.write(
            json.dumps(
                {
                    "benchmark": "dashboard",
                    "database": connection.vendor,
                    "profiles": profiles,
                    "events_estimate": events_estimate,
                    "cold_ms": round(1000 * cold, 1),
                    "warm_ms": round(1000 * warm, 1),
                    "background_refresh_ms": round(1000 * refresh, 1),
                    "baseline_ms": round(1000 * cold, 1),
                    "ratio_cold_to_warm": round(cold / warm, 1) if warm else None,
                    "data_cold_ms": round(1000 * data_cold, 1),
                    "blocks_cold_ms": {k: round(1000 * v, 1) for k, v in blocks_cold.items()},
                    "blocks_warm_ms": {k: round(1000 * v, 1) for k, v in blocks_warm.items()},
                    "target_ms": 1000 * TARGET_SECONDS,
                    "warm_under_target": warm < TARGET_SECONDS,
                    "cold_under_target": cold < TARGET_SECONDS,
                }
            )
        )

    @staticmethod
    def _events(model) -> int:
        """Return the number of events (PostgreSQL's estimate: an exact count takes seconds)."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [model._meta.db_table],
                )
                row = cursor.fetchone()
                if row and row[0] > 0:
                    return int(row[0])
        return model.objects.count()
