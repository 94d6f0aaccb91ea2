"""An app above segments adds a condition kind or an attribute through the registry alone."""

from dataclasses import dataclass

import pytest
from django.db.models import Q

from profiles.models import Profile, ProfileMerge
from segments import rules
from segments.compiler import compile_rule
from segments.conditions import attribute_register, condition_kinds, condition_register
from segments.explain import segment_explain
from segments.models import Segment
from segments.services import segment_evaluate
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

ERROR_DOMAIN = "Expected a domain such as example.com."


@dataclass(frozen=True)
class EmailDomain:
    """The profile's email address is at ``domain``."""

    email_domain: str

    def to_json(self) -> dict:
        return {"email_domain": self.email_domain}


def parse_domain(node, path, ctx, depth) -> EmailDomain:
    rules.check_keys(node, path, ("email_domain",))
    domain = node["email_domain"]
    if not isinstance(domain, str) or "." not in domain:
        raise rules.RuleError(rules.key_path(path, "email_domain"), ERROR_DOMAIN)
    return EmailDomain(domain)


def compile_domain(node: EmailDomain, path, env) -> Q:
    return Q(email__endswith=f"@{node.email_domain}")


def explain_domain(node: EmailDomain, profile: Profile, now):
    domain = profile.email.rpartition("@")[2]
    return "email_domain", domain, f"email at {domain}"


@pytest.fixture
def domain_kind(registry):
    condition_register(
        "email_domain",
        node_type=EmailDomain,
        parser=parse_domain,
        compiler=compile_domain,
        explainer=explain_domain,
        profile_columns=lambda node: {"email"},
    )


@pytest.fixture
def people():
    ProfileFactory(external_id="ann", email="ann@example.com", city="上海")
    ProfileFactory(external_id="bob", email="bob@example.org", city="上海")
    ProfileFactory(external_id="cat", email="cat@example.com", city="北京")


def selected(rule) -> set[str]:
    tree = rules.parse_rule(rule)
    found = Profile.objects.filter(compile_rule(tree))
    return set(found.values_list("external_id", flat=True))


def test_a_registered_kind_parses_compiles_and_explains(domain_kind, people):
    rule = {"all": [{"attr": "city", "op": "eq", "value": "上海"}, {"email_domain": "example.com"}]}
    segment = Segment.objects.create(name="D", slug="d", rule=rule)

    tree = rules.parse_rule(rule)
    run = segment_evaluate(segment_id=segment.pk)
    node = segment_explain(segment=segment, profile=Profile.objects.get(external_id="bob"))

    assert tree.children[1] == EmailDomain("example.com")
    assert rules.rule_to_json(tree) == rule
    assert selected({"not": {"email_domain": "example.com"}}) == {"bob"}
    assert not run.error
    assert set(segment.memberships.values_list("profile__external_id", flat=True)) == {"ann"}
    assert (node.met, node.children[1].met) == (False, False)
    assert (node.children[1].kind, node.children[1].actual) == ("email_domain", "example.org")


def test_a_registered_kind_is_refused_by_path_and_listed_among_the_kinds(domain_kind):
    with pytest.raises(rules.RuleError) as caught:
        rules.parse_rule({"any": [{"tag": "vip", "op": "has"}, {"email_domain": "x"}]})
    with pytest.raises(rules.RuleError) as unknown:
        rules.parse_rule({"nothing": 1})

    assert str(caught.value) == f"any[1].email_domain: {ERROR_DOMAIN}"
    assert "email_domain" in str(unknown.value)
    assert list(condition_kinds())[-1] == "email_domain"


def test_without_registration_the_key_is_unknown():
    with pytest.raises(rules.RuleError, match="Unknown condition"):
        rules.parse_rule({"email_domain": "example.com"})


@pytest.fixture
def merged_from(registry):
    """An attribute on a related model (one row per profile here), as predictions will add."""
    attribute_register(
        "merged_from",
        value_type=rules.TEXT,
        model=ProfileMerge,
        field="source_external_id",
        profile_field="target",
    )


def test_a_registered_attribute_on_a_related_model_compares_like_a_field(merged_from, people):
    ann = Profile.objects.get(external_id="ann")
    ProfileMerge.objects.create(source_external_id="old-1", target=ann, target_external_id="ann")
    segment = Segment.objects.create(
        name="M", slug="m", rule={"attr": "merged_from", "op": "startswith", "value": "old"}
    )

    node = segment_explain(segment=segment, profile=ann)

    assert selected({"attr": "merged_from", "op": "eq", "value": "old-1"}) == {"ann"}
    assert selected({"attr": "merged_from", "op": "ne", "value": "old-1"}) == {"bob", "cat"}
    assert selected({"attr": "merged_from", "op": "is_not_set"}) == {"bob", "cat"}
    assert (node.met, node.actual) == (True, "old-1")
    with pytest.raises(rules.RuleError, match="does not apply to merged_from"):
        rules.parse_rule({"attr": "merged_from", "op": "within_last_days", "value": 3})
