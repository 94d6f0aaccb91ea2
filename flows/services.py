"""Flow operations: create and edit (a live flow gets a new version), go live, pause, archive."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from flows.content import step_campaign_create
from flows.definition import Definition, FlowError, definition_parse
from flows.exits import enrollments_exit
from flows.models import Enrollment, Flow, FlowMessage, FlowVersion
from flows.triggers import event_index_forget
from flows.triggers_spec import trigger_key

ERROR_LOOP = _(
    "This flow would start itself again: it is triggered by opening or clicking any message, "
    "sends messages itself, and lets a profile enter every time. Name the campaign of the "
    "trigger or choose another re-entry policy."
)
ERROR_ARCHIVED = _("An archived flow cannot change.")
ERROR_SLUG_TAKEN = _("The slug “{slug}” is used by another flow.")


def _loop_errors(definition: Definition) -> list[tuple[str, str]]:
    trigger = definition.trigger
    policy, _days = definition.reentry
    sends = any(True for _step in definition.sends())
    if (
        trigger.get("type") == "message"
        and not trigger.get("campaign")
        and sends
        and policy == "always"
    ):
        return [("trigger", ERROR_LOOP)]
    return []


def flow_create(
    *, name: str, slug: str, definition: dict, description: str = "", user=None
) -> Flow:
    """Create a draft flow; raise FlowError for a definition of the wrong shape."""
    definition_parse(definition)
    if Flow.objects.filter(slug=slug).exists():
        raise FlowError([("slug", ERROR_SLUG_TAKEN.format(slug=slug))])
    return Flow.objects.create(
        name=name, slug=slug, description=description, definition=definition, created_by=user
    )


@transaction.atomic
def flow_update(*, flow: Flow, definition: dict, user=None, name=None, description=None) -> Flow:
    """Save the working copy; a live flow must stay valid and gets a new version at once."""
    if flow.status == Flow.Status.ARCHIVED:
        raise FlowError([("", ERROR_ARCHIVED)])
    live = flow.status == Flow.Status.LIVE
    parsed = definition_parse(definition, complete=live)
    if live:
        _check_loops(parsed)
    flow.definition = definition
    flow.name = name if name is not None else flow.name
    flow.description = description if description is not None else flow.description
    flow.save()
    if live and (flow.version is None or flow.version.definition != definition):
        _version_create(flow=flow, definition=parsed, user=user)
    return flow


def _check_loops(parsed: Definition) -> None:
    errors = _loop_errors(parsed)
    if errors:
        raise FlowError(errors)


def _version_create(*, flow: Flow, definition: Definition, user) -> FlowVersion:
    number = (flow.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = FlowVersion.objects.create(
        flow=flow, number=number, definition=definition.raw, created_by=user
    )
    for step in definition.sends():
        campaign = step_campaign_create(flow=flow, version=version, step=step)
        FlowMessage.objects.create(version=version, step_key=step.key, campaign=campaign)
    trigger = definition.trigger
    Flow.objects.filter(pk=flow.pk).update(
        version=version, trigger_type=trigger.get("type", ""), trigger_key=trigger_key(trigger)
    )
    flow.version, flow.trigger_type, flow.trigger_key = (
        version,
        trigger.get("type", ""),
        trigger_key(trigger),
    )
    transaction.on_commit(event_index_forget)
    return version


def _campaigns_set(flow: Flow, status: str) -> None:
    Campaign.objects.filter(flow_message__version__flow=flow).update(status=status)


@transaction.atomic
def flow_go_live(*, flow: Flow, user=None) -> Flow:
    """Check the whole flow, snapshot a version if it changed, and start it."""
    from flows.tasks import flows_advance_task

    if flow.status == Flow.Status.ARCHIVED:
        raise FlowError([("", ERROR_ARCHIVED)])
    parsed = definition_parse(flow.definition, complete=True)
    _check_loops(parsed)
    was_live = flow.status == Flow.Status.LIVE
    flow.status = Flow.Status.LIVE
    if flow.version is None or flow.version.definition != flow.definition:
        _version_create(flow=flow, definition=parsed, user=user)
    if not was_live:
        flow.transition_cursor, flow.stage_cursor = _cursors()
    flow.paused_reason = ""
    flow.save()
    _campaigns_set(flow, Campaign.Status.SENDING)
    transaction.on_commit(event_index_forget)
    transaction.on_commit(lambda: flows_advance_task.delay())
    return flow


def _cursors() -> tuple[int, int]:
    """Return the newest segment and stage transition ids: a flow going live starts after them."""
    from journeys.models import StageTransition
    from segments.models import SegmentTransition

    return (
        SegmentTransition.objects.aggregate(m=Max("pk"))["m"] or 0,
        StageTransition.objects.aggregate(m=Max("pk"))["m"] or 0,
    )


@transaction.atomic
def flow_pause(*, flow: Flow, reason: str = "", user=None) -> Flow:
    """Stop moving the flow's enrollments and hold its queued messages; they resume on live."""
    if flow.status == Flow.Status.ARCHIVED:
        raise FlowError([("", ERROR_ARCHIVED)])
    flow.status, flow.paused_reason = Flow.Status.PAUSED, reason
    flow.save(update_fields=["status", "paused_reason", "updated_at"])
    _campaigns_set(flow, Campaign.Status.PAUSED)
    transaction.on_commit(event_index_forget)
    return flow


def flow_pause_in_batch(*, flow_id: int, reason: str) -> None:
    """Pause a flow from the engine (its content no longer validates), saying why."""
    flow = Flow.objects.select_for_update().get(pk=flow_id)
    if flow.status == Flow.Status.LIVE:
        flow_pause(flow=flow, reason=reason)


@transaction.atomic
def flow_archive(*, flow: Flow, user=None) -> Flow:
    """End the flow: its enrollments exit, its queued messages are cancelled."""
    ids = flow.enrollments.filter(status=Enrollment.Status.ACTIVE).values_list("pk", flat=True)
    enrollments_exit(enrollment_ids=list(ids), reason="archived", now=timezone.now())
    flow.status = Flow.Status.ARCHIVED
    flow.save(update_fields=["status", "updated_at"])
    _campaigns_set(flow, Campaign.Status.CANCELLED)
    transaction.on_commit(event_index_forget)
    return flow


@transaction.atomic
def flow_delete(*, flow: Flow, user=None) -> bool:
    """Delete a flow that never went live; archive any other, so its history stays.

    Return True when the flow was deleted, False when it was archived."""
    if not flow.versions.exists():
        flow.delete()
        return True
    flow_archive(flow=flow, user=user)
    return False
