"""Register the built-in condition kinds and profile attributes (from SegmentsConfig.ready())."""

from profiles.models import Profile
from profiles.places import city_spellings, region_spellings
from segments import rules, sentence
from segments.compiler.attributes import compile_attribute
from segments.compiler.events import compile_consent, compile_event, compile_segment, compile_tag
from segments.compiler.groups import compile_all, compile_any, compile_not
from segments.conditions import attribute_register, attributes, condition_register
from segments.explain import (
    explain_attribute,
    explain_consent,
    explain_event,
    explain_segment,
    explain_tag,
)

# "city eq Shanghai" selects the profiles stored as 上海 (and any spelling stored before the
# normalisation): places are compared in every spelling.
PLACE_SPELLINGS = {"city": city_spellings, "region": region_spellings}


def _no_columns(node) -> set[str]:
    return set()


def _attribute_columns(node: rules.AttributeCondition) -> set[str]:
    """Return the profile column an attribute reads (none for a related model's field)."""
    if node.is_trait:
        return {"traits"}
    attribute = attributes()[node.attr]
    if not attribute.on_profile:
        return set()
    return {Profile._meta.get_field(attribute.field).column}


def _attribute_is_behaviour(node: rules.AttributeCondition) -> bool:
    return not node.is_trait and attributes()[node.attr].behaviour


def builtins_register() -> None:
    """Register the profile attributes, then the kinds in the order error messages list them."""
    for name, value_type in rules.PROFILE_ATTRIBUTES.items():
        attribute_register(
            name,
            value_type=value_type,
            behaviour=name in rules.BEHAVIOUR_ATTRIBUTES,
            spellings=PLACE_SPELLINGS.get(name),
        )
    groups = (
        ("all", rules.AllOf, rules.parse_group("all", rules.AllOf), compile_all),
        ("any", rules.AnyOf, rules.parse_group("any", rules.AnyOf), compile_any),
        ("not", rules.Not, rules.parse_not, compile_not),
    )
    for key, node_type, parser, compiler in groups:
        condition_register(
            key, node_type=node_type, parser=parser, compiler=compiler, profile_columns=_no_columns
        )
    condition_register(
        "attr",
        node_type=rules.AttributeCondition,
        parser=rules.parse_attribute,
        compiler=compile_attribute,
        explainer=explain_attribute,
        profile_columns=_attribute_columns,
        behaviour=_attribute_is_behaviour,
        describer=sentence.describe_attribute,
    )
    leaves = (
        ("tag", rules.TagCondition, rules.parse_tag, compile_tag, explain_tag, True,
         sentence.describe_tag),
        ("event", rules.EventCondition, rules.parse_event, compile_event, explain_event, True,
         sentence.describe_event),
        ("segment", rules.SegmentCondition, rules.parse_segment, compile_segment, explain_segment,
         False, sentence.describe_segment),
        ("consent", rules.ConsentCondition, rules.parse_consent, compile_consent, explain_consent,
         False, sentence.describe_consent),
    )  # fmt: skip
    for key, node_type, parser, compiler, explainer, behaviour, describer in leaves:
        condition_register(
            key,
            node_type=node_type,
            parser=parser,
            compiler=compiler,
            explainer=explainer,
            profile_columns=_no_columns,
            behaviour=(lambda node: True) if behaviour else None,
            describer=describer,
        )
