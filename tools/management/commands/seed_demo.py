"""Fill an empty database with deterministic, realistic demo data."""

import datetime
import json
import time

from django.core.management.base import BaseCommand, CommandError

from tools.demo import demo_seed


class Command(BaseCommand):
    help = "Fill an empty database with deterministic demo profiles, events and tags."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=2000, help="number of profiles")
        parser.add_argument(
            "--events", type=int, default=None, help="number of events (default: 10 per profile)"
        )
        parser.add_argument("--seed", type=int, default=42, help="random seed")
        parser.add_argument(
            "--anchor",
            type=datetime.date.fromisoformat,
            default=None,
            help="the day the data ends (YYYY-MM-DD; default today)",
        )

    def handle(self, *args, profiles, events, seed, anchor, **options):
        if profiles < 0 or (events is not None and events < 0):
            raise CommandError("--profiles and --events must not be negative.")
        events = profiles * 10 if events is None else events
        started = time.perf_counter()

        def progress(stage, done, total):
            elapsed = time.perf_counter() - started
            self.stdout.write(f"{stage}: {done:,}/{total:,} ({elapsed:.1f}s)")

        try:
            counts = demo_seed(
                profiles=profiles, events=events, seed=seed, anchor=anchor, progress=progress
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        seconds = round(time.perf_counter() - started, 2)
        figures = {
            **counts,
            "seed": seed,
            "seconds": seconds,
            "profiles_per_second": round(profiles / seconds) if seconds else None,
        }
        self.stdout.write(json.dumps(figures))
