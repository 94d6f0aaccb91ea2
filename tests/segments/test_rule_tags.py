"""Rule-based tags: members of a segment carry its bound tag with provenance "rule"."""

import io

import pytest

from profiles.models import Profile, ProfileTag, Provenance
from segments.models import Segment
from segments.services import segment_evaluate
from segments.static_lists import static_members_add_csv, static_members_remove_all
from segments.tags import segment_tag_bind
from tests.factories import ProfileFactory, ProfileTagFactory, TagFactory

pytestmark = pytest.mark.django_db

SHANGHAI = {"all": [{"attr": "city", "op": "eq", "value": "上海"}]}


def tagged(tag) -> dict[str, str]:
    return dict(
        ProfileTag.objects.filter(tag=tag).values_list("profile__external_id", "provenance")
    )


@pytest.fixture
def tag(db):
    return TagFactory(slug="上海客", label="上海客")


@pytest.fixture
def segment(db):
    return Segment.objects.create(name="上海用户", slug="shanghai", rule=SHANGHAI)


def test_binding_a_tag_then_evaluating_tags_the_members(segment, tag):
    ProfileFactory(external_id="a", city="上海")
    ProfileFactory(external_id="b", city="北京")

    segment_tag_bind(segment=segment, tag=tag)
    segment_evaluate(segment_id=segment.pk)

    assert tagged(tag) == {"a": Provenance.RULE}


def test_binding_after_an_evaluation_tags_the_current_members(segment, tag):
    ProfileFactory(external_id="a", city="上海")
    segment_evaluate(segment_id=segment.pk)

    segment_tag_bind(segment=segment, tag=tag)

    assert tagged(tag) == {"a": Provenance.RULE}


def test_leaving_the_segment_removes_the_rule_tag(segment, tag):
    leaver = ProfileFactory(external_id="a", city="上海")
    ProfileFactory(external_id="b", city="上海")
    segment_tag_bind(segment=segment, tag=tag)
    segment_evaluate(segment_id=segment.pk)

    Profile.objects.filter(pk=leaver.pk).update(city="北京")
    segment_evaluate(segment_id=segment.pk)

    assert tagged(tag) == {"b": Provenance.RULE}


def test_manual_tags_are_kept(segment, tag):
    manual = ProfileFactory(external_id="a", city="上海")
    ProfileTagFactory(profile=manual, tag=tag, provenance=Provenance.MANUAL)
    segment_tag_bind(segment=segment, tag=tag)
    segment_evaluate(segment_id=segment.pk)

    assert tagged(tag) == {"a": Provenance.MANUAL}
    Profile.objects.filter(pk=manual.pk).update(city="北京")
    segment_evaluate(segment_id=segment.pk)

    assert tagged(tag) == {"a": Provenance.MANUAL}


def test_an_unchanged_evaluation_changes_no_tag(segment, tag):
    ProfileFactory(external_id="a", city="上海")
    segment_tag_bind(segment=segment, tag=tag)
    segment_evaluate(segment_id=segment.pk)
    before = list(ProfileTag.objects.values_list("pk", "set_at"))

    segment_evaluate(segment_id=segment.pk)

    assert list(ProfileTag.objects.values_list("pk", "set_at")) == before


def test_unbinding_removes_only_the_rule_tags(segment, tag):
    ProfileFactory(external_id="a", city="上海")
    ProfileTagFactory(
        profile=ProfileFactory(external_id="b", city="上海"), tag=tag, provenance="manual"
    )
    segment_tag_bind(segment=segment, tag=tag)
    segment_evaluate(segment_id=segment.pk)

    segment_tag_bind(segment=segment, tag=None)

    segment.refresh_from_db()
    assert segment.tag_id is None
    assert tagged(tag) == {"b": Provenance.MANUAL}


def test_static_lists_keep_the_rule_tag_in_step(tag):
    static = Segment.objects.create(name="名单", slug="list", kind=Segment.Kind.STATIC)
    ProfileFactory(external_id="a")
    segment_tag_bind(segment=static, tag=tag)

    static_members_add_csv(segment=static, stream=io.StringIO("external_id\na\n"))
    assert tagged(tag) == {"a": Provenance.RULE}

    static_members_remove_all(segment=static)
    assert tagged(tag) == {}


def test_the_tag_form_binds_and_unbinds(ops_client, segment, tag):
    ProfileFactory(external_id="a", city="上海")
    segment_evaluate(segment_id=segment.pk)

    response = ops_client.post("/segments/shanghai/tag/", {"tag": tag.pk})
    segment.refresh_from_db()
    assert response["Location"] == "/segments/shanghai/"
    assert segment.tag_id == tag.pk
    assert tagged(tag) == {"a": Provenance.RULE}
    assert (
        'data-testid="rule-tag">上海客<' in ops_client.get("/segments/shanghai/").content.decode()
    )

    ops_client.post("/segments/shanghai/tag/", {"tag": ""})
    segment.refresh_from_db()
    assert segment.tag_id is None
    assert tagged(tag) == {}


def test_only_ops_staff_bind_a_tag(client, campaign_manager, segment, tag):
    client.force_login(campaign_manager)

    response = client.post("/segments/shanghai/tag/", {"tag": tag.pk})

    segment.refresh_from_db()
    assert response.status_code == 403
    assert segment.tag_id is None
