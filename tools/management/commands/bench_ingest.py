"""Benchmark the import path against a raw COPY of the same files, then time the profile pages."""

import csv
import datetime
import json
import random
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core.bulk import copy_bytes, copy_out
from profiles import ingest
from profiles.models import Event, Profile, ProfileTag
from tools.management.commands.bench_pages import check_pages_render, time_profile_pages

CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "重庆"]
EVENT_NAMES = ["page_view", "page_view", "page_view", "app_open", "add_to_cart", "purchase"]
CHANNELS = ["web", "app", "mini_program", "store"]
RAW_PROFILES = """CREATE TEMP TABLE bench_raw_profiles (
    external_id text, email text, phone text, name text, gender text, birth_date date,
    city text, region text, signup_at timestamptz, membership text)"""
RAW_EVENTS = """CREATE TEMP TABLE bench_raw_events (
    external_id text, name text, occurred_at timestamptz, event_id text, amount numeric,
    channel text, properties jsonb)"""


class Command(BaseCommand):
    help = (
        "On PostgreSQL: write profile and event CSV files, load them with a raw COPY (baseline) "
        "and through the project's import path, print rows/s and the ratio, then time the "
        "profile list and profile page. Ends with one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=1_000_000)
        parser.add_argument("--events", type=int, default=10_000_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--keep", action="store_true", help="keep the loaded rows")
        parser.add_argument("--page-samples", type=int, default=20)

    def handle(self, *args, profiles, events, seed, keep, page_samples, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_ingest runs on PostgreSQL: set DATABASE_URL=postgres://…")
        if Profile.objects.exists() or Event.objects.exists():
            raise CommandError(
                "bench_ingest needs empty profile and event tables (it measures a first load); "
                "run it against an empty database."
            )
        if page_samples:
            check_pages_render()
        figures = {"profiles": profiles, "events": events}
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
            profiles_csv = Path(folder) / "profiles.csv"
            events_csv = Path(folder) / "events.csv"
            started = time.perf_counter()
            self._write_files(profiles_csv, events_csv, profiles, events, seed)
            self.say(f"files written in {time.perf_counter() - started:.1f}s")
            try:
                for kind, path, ddl in (
                    ("profiles", profiles_csv, RAW_PROFILES),
                    ("events", events_csv, RAW_EVENTS),
                ):
                    raw = self._raw_copy(path, ddl, kind)
                    ours = self._import(path, kind)
                    model = Profile if kind == "profiles" else Event
                    same_table = self._copy_into_same_shape(model, kind)
                    figures[f"{kind}_raw_copy_file_rows_per_s"] = round(raw)
                    figures[f"{kind}_raw_copy_indexed_rows_per_s"] = round(same_table)
                    figures[f"{kind}_import_rows_per_s"] = round(ours)
                    figures[f"{kind}_ratio_to_file_copy"] = round(ours / raw, 3)
                    figures[f"{kind}_ratio_to_indexed_copy"] = round(ours / same_table, 3)
                    self.say(
                        f"{kind}: import {ours:,.0f} rows/s; raw COPY of the file into a bare "
                        f"table {raw:,.0f} rows/s ({ours / raw:.0%}); raw COPY of the stored rows "
                        f"into a table with the same indexes {same_table:,.0f} rows/s "
                        f"({ours / same_table:.0%})"
                    )
                self.say("ANALYZE …")
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
                if page_samples:  # 0: loads only, no page timing
                    figures.update(time_profile_pages(samples=page_samples, say=self.say))
            finally:
                if not keep:
                    self._empty()
        self.stdout.write(json.dumps(figures))

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _write_files(self, profiles_csv, events_csv, n_profiles, n_events, seed):
        rng = random.Random(seed)
        end = datetime.datetime(2026, 6, 30, tzinfo=datetime.UTC)
        with open(profiles_csv, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["external_id", "email", "phone", "name", "gender", "birth_date",
                             "city", "region", "signup_at", "membership"])  # fmt: skip
            for i in range(n_profiles):
                signup = end - datetime.timedelta(seconds=rng.randrange(3 * 365 * 86400))
                writer.writerow([
                    f"B{i:08d}", f"b{i}@example.com", f"+86138{i % 10**8:08d}", f"用户{i}",
                    rng.choice(["male", "female"]),
                    f"{rng.randint(1960, 2005)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                    rng.choice(CITIES), "", signup.isoformat(), rng.choice(["gold", "silver", ""]),
                ])  # fmt: skip
                if i and i % 250_000 == 0:
                    self.say(f"  profiles file: {i:,}")
        with open(events_csv, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["external_id", "name", "occurred_at", "event_id", "amount",
                             "channel", "properties"])  # fmt: skip
            for j in range(n_events):
                name = rng.choice(EVENT_NAMES)
                occurred = end - datetime.timedelta(seconds=rng.randrange(365 * 86400))
                purchase = name == "purchase"
                writer.writerow([
                    f"B{rng.randrange(n_profiles):08d}", name, occurred.isoformat(),
                    f"e{j}" if j % 2 else "", f"{rng.uniform(5, 900):.2f}" if purchase else "",
                    rng.choice(CHANNELS), '{"sku": "A1"}' if purchase else "",
                ])  # fmt: skip
                if j and j % 1_000_000 == 0:
                    self.say(f"  events file: {j:,}")

    def _raw_copy(self, path: Path, ddl: str, kind: str) -> float:
        rows = ingest.count_data_lines(path)
        with connection.cursor() as cursor:
            cursor.execute(ddl.replace("CREATE TEMP TABLE", "CREATE UNLOGGED TABLE"))
            table = ddl.split()[3]
            started = time.perf_counter()
            with open(path, "rb") as handle:
                blocks = iter(lambda: handle.read(1 << 20), b"")
                copy_bytes(cursor, table, (), blocks, csv=True, header=True)
            seconds = time.perf_counter() - started
            cursor.execute(f"DROP TABLE {table}")
        self.say(f"{kind}: raw COPY of {rows:,} rows in {seconds:.1f}s")
        return rows / seconds

    def _copy_into_same_shape(self, model, kind: str) -> float:
        """Time a raw COPY of the rows just imported into an empty copy of their table.

        The copy has the same columns, indexes and unique constraints (not the foreign key):
        what the database alone needs to store the final rows, with no parsing or checking.
        """
        table = model._meta.db_table
        with tempfile.TemporaryFile() as buffer, connection.cursor() as cursor:
            for block in copy_out(cursor, table):
                buffer.write(block)
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"CREATE TABLE bench_same_shape (LIKE {quoted} INCLUDING ALL)")
            buffer.seek(0)
            rows = model.objects.count()
            started = time.perf_counter()
            copy_bytes(cursor, "bench_same_shape", (), iter(lambda: buffer.read(1 << 20), b""))
            seconds = time.perf_counter() - started
            cursor.execute("DROP TABLE bench_same_shape")
        self.say(f"{kind}: raw COPY of {rows:,} stored rows into an indexed copy in {seconds:.1f}s")
        return rows / seconds

    def _import(self, path: Path, kind: str) -> float:
        importer = ingest.profiles_import_file if kind == "profiles" else ingest.events_import_file
        last = [time.perf_counter()]

        def progress(done: int) -> None:
            if time.perf_counter() - last[0] > 10:
                last[0] = time.perf_counter()
                self.say(f"  {kind} import: {done:,} rows")

        report = importer(path=path, progress=progress, lanes=settings.INGEST_WRITERS)
        if report.errors or report.fatal:
            raise CommandError(f"the generated file did not import cleanly: {report.summary()}")
        self.say(report.summary())
        return report.read / report.seconds

    def _empty(self) -> None:
        self.say("removing the loaded rows …")
        tables = ", ".join(
            connection.ops.quote_name(m._meta.db_table) for m in (Event, ProfileTag, Profile)
        )
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} CASCADE")
