"""Time the profile list and the profile page (server time) on the data in the database."""

import json
import statistics
import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client

from profiles.models import Profile


def check_pages_render() -> None:
    """Fail at once, not after a long load, when the pages' static files are not collected."""
    try:
        staticfiles_storage.url("favicon.svg")
    except ValueError as exc:  # the manifest storage (DEBUG off) without collectstatic
        raise CommandError(
            f"The pages cannot render: {exc}. Run `python manage.py collectstatic` first."
        ) from exc


def time_profile_pages(*, samples: int, say: Callable[[str], None]) -> dict:
    """Return median and maximum server times (ms) of the profile pages over ``samples`` runs.

    Each page is requested through Django's full stack (middleware, view, template) in this
    process, so the figures are server time without the network.
    """
    user, _created = get_user_model().objects.get_or_create(
        username="bench-pages", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    # Random profiles without ORDER BY random(): pick ids spread over the table.
    top = Profile.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    step = max(1, top // (samples + 1))
    external_ids = list(
        Profile.objects.filter(pk__in=range(step, top + 1, step)).values_list(
            "external_id", flat=True
        )[:samples]
    )
    if not external_ids:
        raise CommandError("There are no profiles to time the pages with.")
    city = Profile.objects.filter(pk=step).values_list("city", flat=True).first() or ""
    deep = Profile.objects.order_by("-pk").values_list("pk", flat=True)[top // 2 : top // 2 + 1]
    pages = {
        "list_ms": ["/profiles/"] * samples,
        "list_deep_page_ms": [f"/profiles/?after={deep[0] if deep else top}"] * samples,
        "list_city_ms": [f"/profiles/?city={city}"] * samples,
        "list_tier_ms": ["/profiles/?tier=high"] * samples,
        "list_search_id_ms": [f"/profiles/?q={e}" for e in external_ids],
        "list_search_name_ms": ["/profiles/?q=王"] * samples,
        "detail_ms": [f"/profiles/{e}/" for e in external_ids],
    }
    figures = {"profiles_in_table": Profile.objects.count()}
    try:
        for name, urls in pages.items():
            timings = []
            for url in urls:
                started = time.perf_counter()
                # secure: as behind TLS, so SECURE_SSL_REDIRECT (on without DEBUG) lets it through
                response = client.get(url, HTTP_HOST="localhost", secure=True)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise CommandError(f"{url} answered {response.status_code}")
            figures[f"{name}_median"] = round(statistics.median(timings), 1)
            figures[f"{name}_max"] = round(max(timings), 1)
            say(f"{name}: median {statistics.median(timings):.1f} ms, max {max(timings):.1f}")
    finally:
        user.delete()
    return figures


class Command(BaseCommand):
    help = "Time the profile list and profile page on the current data; ends with a JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--samples", type=int, default=20)

    def handle(self, *args, samples, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("note: not PostgreSQL; figures are for this database")
        check_pages_render()
        figures = time_profile_pages(samples=samples, say=self.stdout.write)
        self.stdout.write(json.dumps(figures))
