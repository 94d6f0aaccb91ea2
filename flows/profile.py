"""The flows on the 360° profile page and in the profile API: where a profile is, and has been."""

from collections import defaultdict

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.urls import NoReverseMatch, reverse

from flows.labels import exit_label, outcome_label, step_label, steps_by_key
from flows.models import Enrollment, StepRun
from profiles.models import Profile

SHOWN_ENROLLMENTS = 20


def profile_enrollments(*, profile: Profile) -> QuerySet[Enrollment]:
    """Return the profile's enrollments, active ones first, then the latest entered first."""
    active_first = Case(
        When(status=Enrollment.Status.ACTIVE, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return (
        Enrollment.objects.filter(profile=profile)
        .select_related("flow", "version")
        .order_by(active_first, "-entered_at", "-pk")
    )


def flow_url(slug: str) -> str:
    """Return the flow's page, or "" while no page answers to ``flows:detail``."""
    try:
        return reverse("flows:detail", args=[slug])
    except NoReverseMatch:
        return ""


def _history(runs: list[StepRun], steps: dict) -> list[dict]:
    return [
        {
            "step": step_label(steps.get(run.step_key), run.step_key),
            "status": run.get_status_display(),
            "outcome": outcome_label(steps.get(run.step_key), run.outcome),
            "at": run.at,
        }
        for run in runs
    ]


def profile_flows_context(profile: Profile) -> dict:
    """Return the section's context: each enrollment in words, with the steps it went through."""
    enrollments = list(profile_enrollments(profile=profile)[:SHOWN_ENROLLMENTS])
    runs: dict[int, list[StepRun]] = defaultdict(list)
    for run in StepRun.objects.filter(enrollment__in=[e.pk for e in enrollments]).order_by(
        "at", "pk"
    ):
        runs[run.enrollment_id].append(run)
    rows = []
    for enrollment in enrollments:
        steps = steps_by_key(enrollment.version.definition)
        rows.append(
            {
                "flow": enrollment.flow,
                "url": flow_url(enrollment.flow.slug),
                "entry": enrollment.entry,
                "version": enrollment.version.number,
                "status": enrollment.status,
                "status_label": enrollment.get_status_display(),
                "step": step_label(steps.get(enrollment.step_key), enrollment.step_key),
                "entered_at": enrollment.entered_at,
                "finished_at": enrollment.finished_at,
                "exit_reason": exit_label(enrollment.exit_reason),
                "converted_at": enrollment.converted_at,
                "history": _history(runs[enrollment.pk], steps),
            }
        )
    return {"enrollments": rows}
