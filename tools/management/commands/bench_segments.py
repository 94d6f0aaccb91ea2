"""Benchmark segment evaluation against the best of three hand-written SQL forms, on PostgreSQL."""

import json
import statistics
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from segments.compiler import plan_choose
from segments.models import Segment, SegmentMembership, SegmentRun, SegmentTransition
from segments.rules import parse_rule
from segments.services import segment_evaluate, segments_evaluate_many
from tools import segments_hand_sql as hand

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


# The broad rule: about a third of the profiles are members; an "any" of events and a tier.
BROAD_RULE = {
    "all": [
        {"attr": "traits.membership", "op": "in", "value": ["silver", "gold", "platinum"]},
        {
            "any": [
                {"event": "add_to_cart", "within_days": 30, "count": {"gte": 1}},
                {"attr": "value_tier", "op": "eq", "value": "high"},
            ]
        },
        {"event": "purchase", "within_days": 30, "count": {"eq": 0}},
        {"not": {"tag": "price-sensitive", "op": "has"}},
    ]
}
# The "any" mix: each branch pairs a cheap condition with its own event aggregate.
ANY_MIX_RULE = {
    "all": [
        {"attr": "signup_at", "op": "within_last_days", "value": 365},
        {
            "any": [
                {
                    "all": [
                        {"tag": "vip", "op": "has"},
                        {"event": "purchase", "within_days": 90, "sum": "amount",
                         "value": {"gt": 300}},
                    ]
                },
                {
                    "all": [
                        {"attr": "traits.membership", "op": "eq", "value": "platinum"},
                        {"event": "purchase", "within_days": 180, "count": {"gte": 3}},
                    ]
                },
            ]
        },
    ]
}  # fmt: skip


def bench_rules(tag: str) -> dict[str, dict]:
    """Return the rules measured, by the name of their hand-written forms."""
    return {"selective": mixed_rule(tag=tag), "broad": BROAD_RULE, "any_mix": ANY_MIX_RULE}


class Command(BaseCommand):
    help = (
        "On PostgreSQL with data loaded (e.g. seed_demo --profiles 1000000 --events 10000000): "
        "evaluate a selective, a broad and an 'any' rule end to end next to three hand-written "
        "SQL forms of each, re-evaluate unchanged, and refresh 20 segments next to hand-written "
        "SQL sharing one scan per event window. Ends with one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tag", default="coupon-lover")
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--segments", type=int, default=20)
        parser.add_argument(
            "--plan", choices=["auto", "grouped", "correlated"], default=None,
            help="force the segments' plan (default: the SEGMENT_PLAN setting)",
        )  # fmt: skip

    def handle(self, *args, tag, repeat, segments, plan, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_segments runs on PostgreSQL: set DATABASE_URL=postgres://…")
        if plan is not None:
            from django.conf import settings

            settings.SEGMENT_PLAN = plan
        now = timezone.now()
        figures = {
            "profiles": self._count("profiles_profile"),
            "events": self._count("profiles_event"),
            "rules": {},
        }
        self._clean()
        try:
            for name, rule in bench_rules(tag).items():
                figures["rules"][name] = self._rule(name, rule, now, tag, repeat)
            figures.update(self._again(now))
            figures.update(self._many(now, tag, segments, repeat))
        finally:
            self._clean()
        ratios = [rule["ratio_to_best"] for rule in figures["rules"].values()]
        figures["worst_rule_ratio"] = max(ratios)
        self.stdout.write(json.dumps(figures, ensure_ascii=False))

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _count(self, table: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            return int(cursor.fetchone()[0])

    def _hand(self, sql: str, params: dict) -> tuple[float, set[int]]:
        """Run one hand-written form into a temporary table; return its time and ids."""
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_hand")
            started = time.perf_counter()
            cursor.execute(f"CREATE TEMP TABLE bench_hand AS {sql}", params)
            elapsed = time.perf_counter() - started
            cursor.execute("SELECT id FROM bench_hand")
            ids = {row[0] for row in cursor.fetchall()}
            cursor.execute("DROP TABLE bench_hand")
        return elapsed, ids

    def _ours(self, name: str, rule: dict, now) -> tuple[float, float, Segment]:
        """Evaluate the rule as a new segment; return the whole evaluation's time (the plan's
        estimates, the query, writing memberships and transitions, the run's records), the
        time of its queries alone (the CREATE TEMP TABLE … AS statements that compute the
        members, as each hand-written form is timed) and the segment."""
        self._clean(f"{BENCH_PREFIX}{name}")
        segment = Segment.objects.create(
            name=f"bench {name}", slug=f"{BENCH_PREFIX}{name}", rule=rule, refresh_minutes=None
        )
        queries = []

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                if sql.startswith("CREATE TEMP TABLE") and " AS " in sql:
                    queries.append(time.perf_counter() - started)

        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            run = segment_evaluate(segment_id=segment.pk, now=now)
        elapsed = time.perf_counter() - started
        if run.error:
            raise CommandError(f"the evaluation of {name} failed: {run.error}")
        return elapsed, sum(queries), segment

    def _rule(self, name: str, rule: dict, now, tag: str, repeat: int) -> dict:  # long: the
        # alternation of the forms and the product, then the checks and the figures of one rule
        params = {"now": now, "tag": tag, "cities": CITIES, "days": 180}
        forms = hand.FORMS[name]
        timings = {form: [] for form in forms} | {"product": [], "product_query": []}
        found = {}
        segment = None
        for _attempt in range(repeat):  # alternate, so that each meets the same cache
            for form, sql in forms.items():
                elapsed, found[form] = self._hand(sql, params)
                timings[form].append(elapsed)
            elapsed, query, segment = self._ours(name, rule, now)
            timings["product"].append(elapsed)
            timings["product_query"].append(query)
        members = set(
            SegmentMembership.objects.filter(segment=segment).values_list("profile_id", flat=True)
        )
        for form, ids in found.items():
            if ids != members:
                raise CommandError(
                    f"{name}: the segment has {len(members)} members, the {form} form {len(ids)}"
                )
        medians = {key: statistics.median(values) for key, values in timings.items()}
        best_form = min(forms, key=medians.get)
        ratio = medians["product"] / medians[best_form]
        choice = plan_choose(parse_rule(rule), now=now)
        shown = ", ".join(f"{form} {medians[form]:.2f}s" for form in forms)
        self.say(
            f"{name}: {len(members):,} members; hand-written {shown}; product "
            f"{medians['product']:.2f}s ({choice.plan}) = {ratio:.2f}x the best ({best_form}), "
            f"of which its queries {medians['product_query']:.2f}s (the rest: estimates, "
            "writing memberships and transitions, the run's records)"
        )
        return {
            "members": len(members),
            **{f"{form}_s": round(medians[form], 4) for form in forms},
            "product_s": round(medians["product"], 4),
            "product_query_s": round(medians["product_query"], 4),
            "best_form": best_form,
            "ratio_to_best": round(ratio, 2),
            "plan": choice.as_dict(),
        }

    def _again(self, now) -> dict:
        """Re-evaluate each benchmark segment unchanged: no membership row may be written."""
        written, seconds = 0, {}
        for segment in Segment.objects.filter(slug__startswith=BENCH_PREFIX):
            started = time.perf_counter()
            run = segment_evaluate(segment_id=segment.pk, now=now)
            seconds[segment.slug.removeprefix(BENCH_PREFIX)] = round(
                time.perf_counter() - started, 3
            )
            written += run.entered + run.exited
        self.say(f"re-evaluation with no change: {written} membership rows written")
        return {"reevaluate_s": seconds, "reevaluate_rows_written": written}

    def _variants(self, count: int) -> list[tuple[list[str], int]]:
        return [(CITIES[: 1 + i % 3], 90 + 10 * i) for i in range(count)]

    def _hand_many(self, now, tag: str, variants) -> tuple[float, list[set[int]]]:
        params = {"now": now, "tag": tag, "cities": CITIES} | {
            f"cities_{number}": cities for number, (cities, _days) in enumerate(variants)
        }
        with connection.cursor() as cursor:
            started = time.perf_counter()
            for statement in hand.shared_refresh(variants):
                cursor.execute(statement, params if "%(" in statement else None)
            elapsed = time.perf_counter() - started
            found = []
            for number in range(len(variants)):
                cursor.execute(f"SELECT id FROM hand_segment_{number}")
                found.append({row[0] for row in cursor.fetchall()})
                cursor.execute(f"DROP TABLE hand_segment_{number}")
            cursor.execute("DROP TABLE hand_candidates, hand_bought")
        return elapsed, found

    def _many(self, now, tag, count: int, repeat: int) -> dict:  # long: the refresh, its
        # hand-written counterpart, alternated, and the check that both select the same
        variants = self._variants(count)
        ids = []
        for i, (cities, days) in enumerate(variants):
            ids.append(
                Segment.objects.create(
                    name=f"bench {i}", slug=f"{BENCH_PREFIX}{i}", refresh_minutes=None,
                    rule=mixed_rule(tag=tag, cities=cities, purchase_days=days),
                ).pk
            )  # fmt: skip
        hand_times, firsts = [], []
        for _attempt in range(repeat):
            elapsed, found = self._hand_many(now, tag, variants)
            hand_times.append(elapsed)
            SegmentMembership.objects.filter(segment_id__in=ids).delete()
            started = time.perf_counter()
            segments_evaluate_many(segment_ids=ids, now=now)  # as the scheduled refresh does
            firsts.append(time.perf_counter() - started)
        started = time.perf_counter()
        runs = segments_evaluate_many(segment_ids=ids, now=now)
        again = time.perf_counter() - started
        rewritten = sum(run.entered + run.exited for run in runs)
        for number, segment_id in enumerate(ids):
            members = set(
                SegmentMembership.objects.filter(segment_id=segment_id).values_list(
                    "profile_id", flat=True
                )
            )
            if members != found[number]:
                raise CommandError(f"segment {number}: {len(members)} members, by hand "
                                   f"{len(found[number])}")  # fmt: skip
        hand_s, first = statistics.median(hand_times), statistics.median(firsts)
        self.say(f"{count} segments: first refresh {first:.2f}s, unchanged refresh {again:.2f}s "
                 f"({rewritten} rows written), hand-written SQL sharing one scan {hand_s:.2f}s "
                 f"({first / hand_s:.2f}x)")  # fmt: skip
        return {
            "segments": count, "refresh_many_first_s": round(first, 3),
            "refresh_many_again_s": round(again, 3),
            "refresh_many_again_rows_written": rewritten,
            "refresh_many_hand_s": round(hand_s, 3),
            "refresh_many_ratio_to_hand": round(first / hand_s, 2),
        }  # fmt: skip

    def _clean(self, slug: str | None = None) -> None:
        bench = Segment.objects.filter(slug__startswith=BENCH_PREFIX)
        if slug is not None:
            bench = bench.filter(slug=slug)
        SegmentTransition.objects.filter(segment__in=bench).delete()
        SegmentMembership.objects.filter(segment__in=bench).delete()
        SegmentRun.objects.filter(segment__in=bench).delete()
        bench.delete()
