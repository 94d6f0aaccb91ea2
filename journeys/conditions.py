"""The segment rule condition ``{"stage": "<slug>", "op": "reached"}``, plugged into segments.

Segments cannot import journeys (journeys → campaigns → segments → profiles), so this app
registers the kind with ``segments.conditions.condition_register`` from
``JourneysConfig.ready()``, as segments registers its own kinds:

- the node ``StageCondition`` and its parser, which, when a rule is read against the stored
  segments (the resolver is ``segments.selectors.segment_rule``: the segment form, the API, the
  model's ``clean()``, preview and evaluation), refuses a stage that does not exist, naming the
  node. Parsing without that resolver stays pure (no query);
- the compiler: "reached" is true when the profile's current
  stage (``Profile.stage``) is the named stage or a later one by position. The position, not a
  transition into the named stage, because stages can be skipped: a profile that went straight
  to "repurchase" has reached "first-purchase" too (as the funnel counts it). A stage is
  behaviour: a profile that withdrew personalised profiling has no stage to rules, so
  "reached" is false for it (and "not reached" true);
- the explainer, showing the profile's stage.

A stage deleted after a rule was saved (stages are only made inactive by the pages) still gives
a RuleError at compile time, never a database error.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.times import moment_text
from journeys.selectors import stage_positions, stages_all
from profiles.models import Profile
from profiles.services.consent import profiling_allowed_q
from segments import rules
from segments.conditions import condition_register
from segments.selectors import segment_rule

ERROR_UNKNOWN_STAGE = gettext_lazy("There is no journey stage “{slug}”; use one of {slugs}.")
STAGE_OPS = ("reached",)


@dataclass(frozen=True)
class StageCondition:
    """The profile has reached a journey stage."""

    stage: str
    op: str

    def to_json(self) -> dict:
        return {"stage": self.stage, "op": self.op}


def _unknown(slug: str, positions: dict[str, int], path: str) -> rules.RuleError:
    slugs = ", ".join(sorted(positions, key=positions.get)) or "—"
    return rules.RuleError(
        rules.key_path(path, "stage"), ERROR_UNKNOWN_STAGE.format(slug=slug, slugs=slugs)
    )


def stage_reached_q(slug: str, *, path: str = "") -> Q:
    """Return the condition on Profile "reached stage ``slug``"; RuleError for an unknown stage."""
    positions = stage_positions()
    if slug not in positions:
        raise _unknown(slug, positions, path)
    beyond = [other for other, at in positions.items() if at >= positions[slug]]
    return Q(stage__in=beyond) & profiling_allowed_q()


def compile_stage(node: StageCondition, path: str, env) -> Q:
    """Compile a stage condition (``reached`` is its only operator)."""
    return stage_reached_q(node.stage, path=path)


def _when(profile: Profile) -> str:
    at = profile.stage_entered_at
    return moment_text(at) or "—"


def explain_stage(node: StageCondition, profile: Profile, now):
    """Return (kind, the profile's stage slug or None, the same for people)."""
    if not Profile.objects.filter(profiling_allowed_q(), pk=profile.pk).exists():
        return "stage", None, _("personalised profiling withdrawn: no stage is used")
    if not profile.stage:
        return "stage", None, _("no journey stage yet")
    return (
        "stage",
        profile.stage,
        _("stage = {stage} since {at}").format(stage=profile.stage, at=_when(profile)),
    )


def parse_stage(node, path: str, ctx: rules.ParseContext, depth: int) -> StageCondition:
    """Parse ``{"stage": slug, "op": "reached"}``; with the stored segments, check the stage."""
    rules.check_keys(node, path, ("stage", "op"))
    stage = rules.parse_slug(node["stage"], rules.key_path(path, "stage"))
    op = rules.parse_choice(node["op"], STAGE_OPS, rules.key_path(path, "op"))
    if ctx.resolve is segment_rule:
        positions = stage_positions()
        if stage not in positions:
            raise _unknown(stage, positions, path)
    return StageCondition(stage=stage, op=op)


def _stage_names() -> dict[str, str]:
    return {stage.slug: stage.name for stage in stages_all()}


def describe_stage(node, w) -> str:
    """Say ``{"stage": slug, "op": "reached"}`` with the stage's name (segments.sentence)."""
    slug = str(node["stage"])
    if node["op"] not in STAGE_OPS:
        raise ValueError(node["op"])
    name = w.cached("stages", _stage_names).get(slug) or slug
    return w.fill(_("has reached the journey stage %(stage)s"), stage=w.term(name, slug))


def stage_builder() -> dict:
    """Return what the rule builder offers for the condition: its label and the stages."""
    return {
        "label": _("Journey stage"),
        "stages": [[stage.slug, stage.name] for stage in stages_all()],
        "ops": [["reached", _("has reached")]],
    }


def stage_condition_register() -> None:
    """Plug the stage condition into the segment rule engine (idempotent)."""
    condition_register(
        "stage",
        node_type=StageCondition,
        parser=parse_stage,
        compiler=compile_stage,
        explainer=explain_stage,
        profile_columns=lambda node: {Profile._meta.get_field("stage").column},
        builder=stage_builder,
        describer=describe_stage,
    )  # not "behaviour": compile_stage leaves out profiles without profiling itself
