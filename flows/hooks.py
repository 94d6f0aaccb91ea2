"""Where flows listen to the apps below them (their registries; they never import flows)."""

from django.db import transaction


def _transitions_changed(*_args, **_kwargs) -> None:
    from flows.tasks import flows_transitions_task

    transaction.on_commit(lambda: flows_transitions_task.delay())


def hooks_register() -> None:
    """Register the flows' receivers with profiles, campaigns, segments and journeys."""
    from flows.merge import enrollments_move
    from flows.triggers import flows_engagement_receive, flows_events_receive
    from profiles.services.merge import merge_mover

    merge_mover("flow_enrollments")(enrollments_move)

    from campaigns.hooks import engagement_register
    from journeys.hooks import stage_changed_register
    from profiles.hooks import events_ingested_register
    from segments.hooks import segment_changed_register

    events_ingested_register(flows_events_receive)
    engagement_register(flows_engagement_receive)
    segment_changed_register(_transitions_changed)
    stage_changed_register(_transitions_changed)
