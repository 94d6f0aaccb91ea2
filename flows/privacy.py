"""Flows in data-subject requests: the enrollments an export shows, the details erasure scrubs.

A profile's enrollments and step runs stay (the flow's report counts them) and go with the
profile if it is ever deleted; erasure scrubs the person's address and number from step details
(a webhook's error text, say), which otherwise hold none.
"""

from collections import defaultdict

from django.db.models import Q, TextField
from django.db.models.functions import Cast

from flows.models import Enrollment, StepRun
from profiles.models import Profile
from profiles.services.traces import PersonalTraces


def profile_flows_export(*, profile: Profile) -> list[dict]:
    """Return every enrollment of the profile with the steps it went through, oldest first."""
    enrollments = (
        Enrollment.objects.filter(profile=profile)
        .select_related("flow", "version")
        .order_by("entered_at", "pk")
    )
    runs = defaultdict(list)
    for run in StepRun.objects.filter(enrollment__profile=profile).order_by("at", "pk"):
        runs[run.enrollment_id].append(
            {
                "step": run.step_key,
                "status": run.status,
                "outcome": run.outcome,
                "detail": run.detail,
                "attempts": run.attempts,
                "at": run.at,
            }
        )
    return [
        {
            "flow": enrollment.flow.slug,
            "version": enrollment.version.number,
            "entry": enrollment.entry,
            "status": enrollment.status,
            "step": enrollment.step_key,
            "entered_at": enrollment.entered_at,
            "finished_at": enrollment.finished_at,
            "exit_reason": enrollment.exit_reason,
            "converted_at": enrollment.converted_at,
            "steps": runs[enrollment.pk],
        }
        for enrollment in enrollments
    ]


def profile_flows_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    """Scrub the person's address and number from the details of the profile's step runs."""
    if not traces.needles:
        return 0
    condition = Q()
    for needle in traces.needles:
        condition |= Q(text__icontains=needle)
    runs = (
        StepRun.objects.filter(enrollment__profile=profile)
        .annotate(text=Cast("detail", TextField()))
        .filter(condition)
    )
    changed = 0
    for run in runs.only("pk", "detail"):
        changed += StepRun.objects.filter(pk=run.pk).update(detail=traces.scrub_json(run.detail))
    return changed
