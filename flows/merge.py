"""When two profiles are merged, the kept profile takes over the other's enrollments."""

from django.db.models import Max

from flows.exits import enrollments_exit
from flows.models import Enrollment
from profiles.models import Profile


def enrollments_move(*, source: Profile, target: Profile) -> int:
    """Move the source's enrollments to the target, numbered after the target's own entries;
    where both are inside the same flow, the source's enrollment exits (one active per flow)."""
    moved = 0
    flows = Enrollment.objects.filter(profile=source).values_list("flow_id", flat=True).distinct()
    for flow_id in list(flows):
        theirs = Enrollment.objects.filter(flow_id=flow_id, profile=target)
        top = theirs.aggregate(top=Max("entry"))["top"] or 0
        ours = Enrollment.objects.filter(flow_id=flow_id, profile=source)
        if theirs.filter(status=Enrollment.Status.ACTIVE).exists():
            active = ours.filter(status=Enrollment.Status.ACTIVE).values_list("pk", flat=True)
            enrollments_exit(enrollment_ids=list(active), reason="merged")
        for number, pk in enumerate(ours.order_by("entry").values_list("pk", flat=True), 1):
            moved += Enrollment.objects.filter(pk=pk).update(profile=target, entry=top + number)
    return moved
