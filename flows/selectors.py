"""Reads for the flow pages: the flows with their counts, each step's counts, who is at a step."""

from collections import defaultdict

from django.db.models import Count, Q, QuerySet

from flows.models import Enrollment, Flow, StepRun

E = Enrollment.Status
PASSED = (StepRun.Status.DONE, StepRun.Status.FAILED)
COUNTS = ("entered", "waiting", "passed", "exited", "converted")


def flows_all() -> list[Flow]:
    """Return every flow with ``entered`` (enrollments ever) and ``active`` (in it now)."""
    return list(
        Flow.objects.select_related("version").annotate(
            entered=Count("enrollments"),
            active=Count("enrollments", filter=Q(enrollments__status=E.ACTIVE)),
        )
    )


def _empty() -> dict:
    return {**dict.fromkeys(COUNTS, 0), "outcomes": {}}


def flow_step_counts(*, flow: Flow) -> dict[str, dict]:
    """Return, per step key, how many enrollments entered, wait there now, passed, exited
    there and converted, and how many took each path (``outcomes``).

    Passed: the step ran (done or failed). Waiting: active enrollments standing on it. Exited:
    enrollments that left the flow while standing on it. Entered is their sum. Converted: those
    of them that reached the flow's goal. Two grouped queries for the whole flow.
    """
    counts: dict[str, dict] = defaultdict(_empty)
    runs = (
        StepRun.objects.filter(flow=flow, status__in=PASSED)
        .values("step_key", "outcome")
        .annotate(
            n=Count("pk"), converted=Count("pk", filter=Q(enrollment__converted_at__isnull=False))
        )
    )
    for row in runs:
        step = counts[row["step_key"]]
        step["passed"] += row["n"]
        step["converted"] += row["converted"]
        if row["outcome"]:
            step["outcomes"][row["outcome"]] = step["outcomes"].get(row["outcome"], 0) + row["n"]
    standing = (
        Enrollment.objects.filter(flow=flow, status__in=(E.ACTIVE, E.EXITED))
        .values("step_key", "status")
        .annotate(n=Count("pk"), converted=Count("pk", filter=Q(converted_at__isnull=False)))
    )
    for row in standing:
        step = counts[row["step_key"]]
        step["waiting" if row["status"] == E.ACTIVE else "exited"] += row["n"]
        step["converted"] += row["converted"]
    for step in counts.values():
        step["entered"] = step["passed"] + step["waiting"] + step["exited"]
    return dict(counts)


def step_enrollments(*, flow: Flow, step_key: str, which: str) -> QuerySet[Enrollment]:
    """Return the enrollments behind one count of a step (``which`` is one of COUNTS), newest
    at the step first, with their profiles."""
    ran = StepRun.objects.filter(flow=flow, step_key=step_key, status__in=PASSED)
    here = Q(step_key=step_key)
    conditions = {
        "waiting": here & Q(status=E.ACTIVE),
        "exited": here & Q(status=E.EXITED),
        "passed": Q(pk__in=ran.values("enrollment_id")),
    }
    entered = conditions["waiting"] | conditions["exited"] | conditions["passed"]
    conditions["entered"] = entered
    conditions["converted"] = entered & Q(converted_at__isnull=False)
    return (
        Enrollment.objects.filter(flow=flow)
        .filter(conditions[which])
        .select_related("profile", "version")
        .order_by("-step_since", "-pk")
    )
