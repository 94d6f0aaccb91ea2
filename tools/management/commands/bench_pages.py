"""Time the profile list and the profile page (server time) on the data in the database, and the
portrait of a segment of a given size (cold, with the base cached, and warm)."""

import importlib
import json
import statistics
import time
from collections.abc import Callable
from urllib.parse import quote
from wsgiref.util import setup_testing_defaults

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.test import Client

from core.roles import OPS
from profiles.models import Profile
from segments.models import Segment, SegmentMembership
from segments.portrait import portrait_cache_clear

PORTRAIT_SLUG = "bench-portrait"
PORTRAIT_TARGET_MS = 2000


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

    Each page is requested from the project's WSGI application (``config.wsgi``), the one a
    server runs, so the figures are server time through the full stack (middleware, view,
    template) without the network. Loading that application warms the process up once, as
    at a server's start (``config/warmup.py``); its time is reported apart, as ``start_ms``.
    """
    started = time.perf_counter()
    importlib.import_module("config.wsgi")
    start_ms = (time.perf_counter() - started) * 1000
    application, user, cookie = _bench_client()
    say(f"WSGI application loaded and warmed up (once per server process): {start_ms:.1f} ms")
    # Random profiles without ORDER BY random(): pick ids spread over the table.
    bounds = Profile.objects.aggregate(low=Min("pk"), high=Max("pk"), n=Count("pk"))
    low, high = bounds["low"] or 0, bounds["high"] or 0
    step = max(1, (high - low) // (samples + 1))
    external_ids = list(
        Profile.objects.filter(pk__in=range(low, high + 1, step)).values_list(
            "external_id", flat=True
        )[:samples]
    )
    if not external_ids:
        raise CommandError("There are no profiles to time the pages with.")
    city = Profile.objects.filter(pk__gte=low).values_list("city", flat=True)[:1]
    middle = bounds["n"] // 2
    deep = Profile.objects.order_by("-pk").values_list("pk", flat=True)[middle : middle + 1]
    pages = {
        "list_ms": ["/profiles/"] * samples,
        "list_deep_page_ms": [f"/profiles/?after={deep[0] if deep else high}"] * samples,
        "list_city_ms": [f"/profiles/?city={city[0] if city else ''}"] * samples,
        "list_tier_ms": ["/profiles/?tier=high"] * samples,
        "list_search_id_ms": [f"/profiles/?q={e}" for e in external_ids],
        "list_search_name_ms": ["/profiles/?q=王"] * samples,
        "detail_ms": [f"/profiles/{e}/" for e in external_ids],
    }
    figures = {"profiles_in_table": bounds["n"], "start_ms": round(start_ms, 1)}
    try:
        for name, urls in pages.items():
            timings = []
            for url in urls:
                started = time.perf_counter()
                status = _wsgi_get(application, url, cookie)
                timings.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise CommandError(f"{url} answered {status}")
            figures[f"{name}_median"] = round(statistics.median(timings), 1)
            figures[f"{name}_max"] = round(max(timings), 1)
            say(f"{name}: median {statistics.median(timings):.1f} ms, max {max(timings):.1f}")
    finally:
        user.delete()
    return figures


def _bench_client() -> tuple:
    """Return the WSGI application, a signed-in ops user and its session cookie.

    An ops user, not a superuser: a superuser's session needs the second sign-in step (TOTP)
    before any page answers, and ops staff are who reads these pages.
    """
    application = importlib.import_module("config.wsgi").application
    user, _created = get_user_model().objects.get_or_create(username="bench-pages")
    user.groups.add(Group.objects.get_or_create(name=OPS)[0])
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return application, user, cookie


def portrait_segment_create(*, members: int) -> Segment:
    """Create the static segment the portrait is timed on: ``members`` profiles spread over the
    whole table (every k-th by id), filled by one INSERT … SELECT."""
    total = Profile.objects.order_by().count()
    if total < members:
        raise CommandError(f"A portrait of {members} members needs as many profiles ({total}).")
    Segment.objects.filter(slug=PORTRAIT_SLUG).delete()
    segment = Segment.objects.create(
        name="bench portrait", slug=PORTRAIT_SLUG, kind=Segment.Kind.STATIC, version=1
    )
    step = max(total // members, 1)
    membership = connection.ops.quote_name(SegmentMembership._meta.db_table)
    profile = connection.ops.quote_name(Profile._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {membership} (segment_id, profile_id, since, version_added)"
            f" SELECT %s, id, %s, 1 FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n"
            f" FROM {profile}) AS numbered WHERE n %% %s = 0 LIMIT %s",
            [segment.pk, segment.created_at, step, members],
        )
    Segment.objects.filter(pk=segment.pk).update(size=segment.memberships.count())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {membership}")
    return segment


def _baseline_ms(segment: Segment) -> float:
    """Time one hand-written grouped query: the members per city (what one dimension costs)."""
    membership = connection.ops.quote_name(SegmentMembership._meta.db_table)
    profile = connection.ops.quote_name(Profile._meta.db_table)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.city, COUNT(*) FROM {profile} p JOIN {membership} m"
            " ON m.profile_id = p.id WHERE m.segment_id = %s GROUP BY p.city",
            [segment.pk],
        )
        cursor.fetchall()
    return (time.perf_counter() - started) * 1000


def time_portrait(*, members: int, samples: int, say: Callable[[str], None]) -> dict:
    """Return the portrait page's server times (ms) for a segment of ``members`` profiles.

    ``cold``: nothing cached (the base's counts too); ``segment_cold``: the base cached, the
    segment not (a new version of a segment); ``warm``: both cached. The baseline is one plain
    grouped query over the members (the city of each), timed the same way.
    """
    application, user, cookie = _bench_client()
    segment = portrait_segment_create(members=members)
    url = f"/segments/{segment.slug}/portrait/"
    say(f"portrait: segment of {segment.memberships.count()} members created")

    def timed(prepare=None) -> list[float]:
        timings = []
        for _sample in range(samples):
            if prepare is not None:
                prepare()
            started = time.perf_counter()
            status = _wsgi_get(application, url, cookie)
            timings.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise CommandError(f"{url} answered {status}")
        return timings

    figures = {"portrait_members": segment.memberships.count()}
    try:
        runs = {
            "portrait_cold_ms": timed(lambda: portrait_cache_clear(segment=segment)),
            "portrait_segment_cold_ms": timed(
                lambda: portrait_cache_clear(segment=segment, base=False)
            ),
            "portrait_warm_ms": timed(),
            "portrait_baseline_ms": [_baseline_ms(segment) for _sample in range(samples)],
        }
    finally:
        segment.delete()
        user.delete()
    for name, timings in runs.items():
        figures[f"{name}_median"] = round(statistics.median(timings), 1)
        figures[f"{name}_max"] = round(max(timings), 1)
        say(f"{name}: median {statistics.median(timings):.1f} ms, max {max(timings):.1f}")
    baseline = figures["portrait_baseline_ms_median"] or 0.1
    figures["portrait_cold_ratio"] = round(figures["portrait_cold_ms_median"] / baseline, 1)
    figures["portrait_target_ms"] = PORTRAIT_TARGET_MS
    # In service beat keeps the base's counts cached (portrait_base_warm_task): a first view of
    # a segment counts only the segment, the "segment cold" case.
    figures["portrait_within_target"] = (
        figures["portrait_segment_cold_ms_max"] <= PORTRAIT_TARGET_MS
    )
    return figures


def _wsgi_get(application, url: str, cookie: str) -> int:
    """Request ``url`` from ``application`` as over HTTPS, read the whole body, return the status.

    Over HTTPS, as behind TLS, so SECURE_SSL_REDIRECT (on without DEBUG) lets it through.
    """
    path, _mark, query = url.partition("?")
    environ = {
        "PATH_INFO": path.encode().decode("latin-1"),  # as servers hand it over (PEP 3333)
        "QUERY_STRING": quote(query, safe="=&"),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "HTTP_HOST": "localhost",
        "HTTP_COOKIE": cookie,
        "wsgi.url_scheme": "https",
    }
    setup_testing_defaults(environ)  # the rest of a WSGI environ: method GET, input, version …
    statuses = []
    response = application(environ, lambda status, headers, *rest: statuses.append(status))
    try:
        for _chunk in response:
            pass
    finally:
        if hasattr(response, "close"):
            response.close()
    return int(statuses[0].split()[0])


class Command(BaseCommand):
    help = "Time the profile list and profile page on the current data; ends with a JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--samples", type=int, default=20)
        parser.add_argument(
            "--portrait-members",
            type=int,
            default=100_000,
            help="time the portrait of a segment of this many profiles (0: skip it)",
        )
        parser.add_argument("--portrait-samples", type=int, default=3)

    def handle(self, *args, samples, portrait_members, portrait_samples, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("note: not PostgreSQL; figures are for this database")
        check_pages_render()
        figures = time_profile_pages(samples=samples, say=self.stdout.write)
        if portrait_members > 0:
            figures.update(
                time_portrait(
                    members=portrait_members, samples=portrait_samples, say=self.stdout.write
                )
            )
        self.stdout.write(json.dumps(figures))
