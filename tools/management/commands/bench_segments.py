"""Benchmark segment evaluation against hand-written SQL for the same rule, on PostgreSQL."""

import json
import statistics
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from segments.models import Segment, SegmentMembership, SegmentRun, SegmentTransition
from segments.services import segment_evaluate, segments_evaluate_many

CITIES = ["上海", "北京", "深圳"]
BENCH_PREFIX = "bench-"


def mixed_rule(*, tag: str, cities=CITIES, purchase_days: int = 180) -> dict:
    """Return the six-condition rule: attributes, a tag, event count and sum, a "did not"."""
    return {
        "all": [
            {"attr": "city", "op": "in", "value": list(cities)},
            {"attr": "signup_at", "op": "within_last_days", "value": 730},
            {"tag": tag, "op": "has"},
            {"event": "purchase", "within_days": purchase_days, "count": {"gte": 2}},
            {"event": "purchase", "within_days": 365, "sum": "amount", "value": {"gt": 500}},
            {"event": "feedback", "within_days": 90, "count": {"eq": 0}},
        ]
    }


# Like every rule on behaviour, it leaves out profiles that withdrew personalised profiling.
HAND_SQL = """
CREATE TEMP TABLE bench_hand AS
SELECT p.id FROM profiles_profile p
WHERE p.city = ANY(%(cities)s)
  AND p.signup_at >= %(now)s - interval '730 days' AND p.signup_at <= %(now)s
  AND EXISTS (SELECT 1 FROM profiles_profiletag pt JOIN profiles_tag t ON t.id = pt.tag_id
              WHERE pt.profile_id = p.id AND t.slug = %(tag)s
                AND (pt.expires_at IS NULL OR pt.expires_at > %(now)s))
  AND p.id IN (
      SELECT e.profile_id FROM profiles_event e
      WHERE e.name = 'purchase' AND e.occurred_at >= %(now)s - interval '365 days'
        AND e.occurred_at <= %(now)s
      GROUP BY e.profile_id
      HAVING COUNT(*) FILTER (WHERE e.occurred_at >= %(now)s - %(days)s * interval '1 day') >= 2
         AND SUM(e.amount) > 500)
  AND NOT EXISTS (SELECT 1 FROM profiles_event e
                  WHERE e.profile_id = p.id AND e.name = 'feedback'
                    AND e.occurred_at >= %(now)s - interval '90 days'
                    AND e.occurred_at <= %(now)s)
  AND NOT EXISTS (SELECT 1 FROM profiles_consentstate cs
                  WHERE cs.profile_id = p.id AND cs.purpose = 'profiling'
                    AND cs.status <> 'granted')
"""


class Command(BaseCommand):
    help = (
        "On PostgreSQL with data loaded (e.g. seed_demo --profiles 1000000 --events 10000000): "
        "evaluate a six-condition segment end to end next to hand-written SQL, re-evaluate it "
        "unchanged, and refresh 20 segments. Ends with one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tag", default="coupon-lover")
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--segments", type=int, default=20)

    def handle(self, *args, tag, repeat, segments, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_segments runs on PostgreSQL: set DATABASE_URL=postgres://…")
        now = timezone.now()
        figures = {
            "profiles": self._count("profiles_profile"),
            "events": self._count("profiles_event"),
        }
        self._clean()
        try:
            hand, hand_ids = self._hand(now, tag, repeat)
            ours, run = self._ours(now, tag, repeat)
            members = set(
                SegmentMembership.objects.filter(segment__slug=f"{BENCH_PREFIX}mixed").values_list(
                    "profile_id", flat=True
                )
            )
            if members != hand_ids:
                raise CommandError(
                    f"the segment has {len(members)} members, the hand-written SQL {len(hand_ids)}"
                )
            figures.update(
                members=len(members), hand_sql_s=round(hand, 3), evaluate_s=round(ours, 3),
                ratio_to_hand=round(ours / hand, 2) if hand else None,
            )  # fmt: skip
            self.say(f"first evaluation {ours:.2f}s vs hand-written SQL {hand:.2f}s "
                     f"({ours / hand:.2f}x), {len(members):,} members")  # fmt: skip
            started = time.perf_counter()
            again = segment_evaluate(segment_id=run.segment_id, now=now)
            reevaluate = time.perf_counter() - started
            rewritten = again.entered + again.exited
            figures.update(
                reevaluate_s=round(reevaluate, 3),
                reevaluate_rows_written=rewritten,
            )
            self.say(f"re-evaluation with no change: {rewritten} membership rows written")
            figures.update(self._many(now, tag, segments, ours))
        finally:
            self._clean()
        self.stdout.write(json.dumps(figures))

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _count(self, table: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            return int(cursor.fetchone()[0])

    def _hand(self, now, tag, repeat) -> tuple[float, set[int]]:
        timings = []
        with connection.cursor() as cursor:
            for _attempt in range(repeat):
                cursor.execute("DROP TABLE IF EXISTS bench_hand")
                started = time.perf_counter()
                cursor.execute(HAND_SQL, {"cities": CITIES, "now": now, "tag": tag, "days": 180})
                timings.append(time.perf_counter() - started)
            cursor.execute("SELECT id FROM bench_hand")
            ids = {row[0] for row in cursor.fetchall()}
            cursor.execute("DROP TABLE bench_hand")
        self.say(f"hand-written SQL: median {statistics.median(timings):.2f}s over {repeat}")
        return statistics.median(timings), ids

    def _ours(self, now, tag, repeat):
        timings = []
        run = None
        for attempt in range(repeat):
            segment = Segment.objects.create(
                name="bench mixed", slug=f"{BENCH_PREFIX}mixed", rule=mixed_rule(tag=tag),
                refresh_minutes=None,
            )  # fmt: skip
            started = time.perf_counter()
            run = segment_evaluate(segment_id=segment.pk, now=now)
            timings.append(time.perf_counter() - started)
            if run.error:
                raise CommandError(f"the evaluation failed: {run.error}")
            if attempt < repeat - 1:
                self._clean()
        self.say(f"segment evaluation (membership written): median "
                 f"{statistics.median(timings):.2f}s over {repeat}")  # fmt: skip
        return statistics.median(timings), run

    def _many(self, now, tag, count, one: float) -> dict:
        variants = []
        for i in range(count):
            cities = CITIES[: 1 + i % 3]
            variants.append(
                Segment.objects.create(
                    name=f"bench {i}", slug=f"{BENCH_PREFIX}{i}", refresh_minutes=None,
                    rule=mixed_rule(tag=tag, cities=cities, purchase_days=90 + 10 * i),
                )
            )  # fmt: skip
        ids = [segment.pk for segment in variants]
        started = time.perf_counter()
        segments_evaluate_many(segment_ids=ids, now=now)  # as the scheduled refresh does
        first = time.perf_counter() - started
        started = time.perf_counter()
        segments_evaluate_many(segment_ids=ids, now=now)
        again = time.perf_counter() - started
        started = time.perf_counter()
        for segment_id in ids:  # the baseline: one after the other, nothing shared
            segment_evaluate(segment_id=segment_id, now=now)
        separately = time.perf_counter() - started
        self.say(f"{count} segments: first refresh {first:.2f}s ({first / one:.1f}x one), "
                 f"unchanged refresh {again:.2f}s ({again / one:.1f}x one), "
                 f"one by one {separately:.2f}s ({separately / one:.1f}x one)")  # fmt: skip
        return {
            "segments": count, "refresh_many_first_s": round(first, 2),
            "refresh_many_first_ratio": round(first / one, 1),
            "refresh_many_again_s": round(again, 2),
            "refresh_many_again_ratio": round(again / one, 1),
            "refresh_one_by_one_s": round(separately, 2),
            "refresh_one_by_one_ratio": round(separately / one, 1),
        }  # fmt: skip

    def _clean(self) -> None:
        bench = Segment.objects.filter(slug__startswith=BENCH_PREFIX)
        SegmentTransition.objects.filter(segment__in=bench).delete()
        SegmentMembership.objects.filter(segment__in=bench).delete()
        SegmentRun.objects.filter(segment__in=bench).delete()
        bench.delete()
