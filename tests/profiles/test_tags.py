"""The tag taxonomy, bulk tagging of a filtered selection, expiry, and who may change tags."""

import datetime
import zoneinfo

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from core.models import Job, JobStatus
from profiles import selectors as tag_selectors
from profiles.models import ProfileTag, Provenance, Tag, TagCategory, ValueTier
from profiles.services import tags as services
from tests.factories import (
    ProfileFactory,
    ProfileTagFactory,
    TagCategoryFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


class ExpiredProfileTagFactory(ProfileTagFactory):
    expires_at = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def tags_of(tag: Tag) -> set[str]:
    return set(ProfileTag.objects.filter(tag=tag).values_list("profile__external_id", flat=True))


@pytest.fixture
def category():
    return TagCategoryFactory(slug="interest", label="兴趣 Interests")


@pytest.fixture
def coffee(category):
    return TagFactory(slug="coffee-lover", label="咖啡 Coffee", category=category)


@pytest.fixture
def shoppers():
    """Three profiles in 北京 (two of high value) and two in 上海."""
    return {
        "bj-high-1": ProfileFactory(external_id="bj-high-1", city="北京", value_tier="high"),
        "bj-high-2": ProfileFactory(external_id="bj-high-2", city="北京", value_tier="high"),
        "bj-mass": ProfileFactory(external_id="bj-mass", city="北京", value_tier="mass"),
        "sh-high": ProfileFactory(external_id="sh-high", city="上海", value_tier="high"),
        "sh-mass": ProfileFactory(external_id="sh-mass", city="上海", value_tier="mass"),
    }


# Taxonomy: categories and tags.


def test_a_category_is_created_from_good_input():
    category = services.tag_category_create(
        slug=" Social ", label="社会属性 Social", description="职业、家庭", position=2
    )

    category.refresh_from_db()
    assert (category.slug, category.label, category.position) == ("social", "社会属性 Social", 2)


def test_a_tag_with_a_unicode_slug_is_created_and_its_colour_normalised(category):
    tag = services.tag_create(category=category, slug="咖啡爱好者", label="咖啡", colour="#AABBCC")

    tag.refresh_from_db()
    assert tag.slug == "咖啡爱好者"
    assert tag.colour == "#aabbcc"
    assert tag.category == category


@pytest.mark.parametrize(
    ("slug", "colour", "field", "message"),
    [
        ("coupon lover!", "#2563eb", "slug", services.ERROR_TAG_SLUG_INVALID),
        ("", "#2563eb", "slug", services.ERROR_SLUG_REQUIRED),
        ("x" * 65, "#2563eb", "slug", services.ERROR_SLUG_TOO_LONG.format(limit=64)),
        ("coupon-lover", "red", "colour", services.ERROR_COLOUR_INVALID),
        ("coupon-lover", "#12345", "colour", services.ERROR_COLOUR_INVALID),
        ("coupon-lover", "#gggggg", "colour", services.ERROR_COLOUR_INVALID),
    ],
)
def test_a_tag_with_bad_input_is_refused_with_a_clear_error_and_nothing_stored(
    category, slug, colour, field, message
):
    with pytest.raises(ValidationError) as refused:
        services.tag_create(category=category, slug=slug, label="优惠券", colour=colour)

    assert refused.value.message_dict[field] == [str(message)]
    assert not Tag.objects.exists()


def test_a_tag_with_a_taken_slug_is_refused(category, coffee):
    with pytest.raises(ValidationError) as refused:
        services.tag_create(category=category, slug="Coffee-Lover", label="又一个")

    assert refused.value.message_dict["slug"] == [
        services.ERROR_TAG_SLUG_TAKEN.format(slug="coffee-lover")
    ]
    assert list(Tag.objects.values_list("label", flat=True)) == ["咖啡 Coffee"]


def test_every_bad_field_is_named_at_once(category):
    with pytest.raises(ValidationError) as refused:
        services.tag_create(category=category, slug="a b", label=" ", colour="blue")

    assert set(refused.value.message_dict) == {"slug", "label", "colour"}


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("兴趣", services.ERROR_CATEGORY_SLUG_INVALID),
        ("interest", services.ERROR_CATEGORY_SLUG_TAKEN.format(slug="interest")),
    ],
)
def test_a_category_with_a_bad_or_taken_slug_is_refused(category, slug, message):
    with pytest.raises(ValidationError) as refused:
        services.tag_category_create(slug=slug, label="兴趣")

    assert refused.value.message_dict["slug"] == [str(message)]
    assert TagCategory.objects.count() == 1


def test_a_refused_update_leaves_the_tag_as_it_was(category, coffee):
    TagFactory(slug="tea-lover", category=category)

    with pytest.raises(ValidationError):
        services.tag_update(tag=coffee, category=category, slug="tea-lover", label="改名")

    assert (coffee.slug, coffee.label) == ("coffee-lover", "咖啡 Coffee")
    coffee.refresh_from_db()
    assert (coffee.slug, coffee.label) == ("coffee-lover", "咖啡 Coffee")


def test_an_update_moves_a_tag_to_another_category(category, coffee):
    mindset = TagCategoryFactory(slug="mindset", label="意识类 Mindset")

    services.tag_update(
        tag=coffee, category=mindset, slug="coffee-lover", label="咖啡控", colour="#112233"
    )

    coffee.refresh_from_db()
    assert (coffee.category, coffee.label, coffee.colour) == (mindset, "咖啡控", "#112233")


def test_a_tag_that_profiles_carry_is_not_deleted_without_force(coffee):
    ProfileTagFactory(tag=coffee)

    with pytest.raises(ValidationError) as refused:
        services.tag_delete(tag=coffee)

    assert refused.value.messages == [services.ERROR_TAG_IN_USE.format(count=1)]
    assert Tag.objects.filter(pk=coffee.pk).exists()


def test_a_forced_delete_takes_the_tag_off_every_profile(coffee):
    ProfileTagFactory.create_batch(3, tag=coffee)
    kept = ProfileTagFactory(tag=TagFactory(slug="tea-lover"))

    removed = services.tag_delete(tag=coffee, force=True)

    assert removed == 3
    assert not Tag.objects.filter(pk=coffee.pk).exists()
    assert list(ProfileTag.objects.all()) == [kept]


# Bulk tagging of a filtered selection.


def test_bulk_tagging_tags_exactly_the_matching_profiles_and_records_who_and_until_when(
    coffee, shoppers, ops_user
):
    expires = timezone.now() + datetime.timedelta(days=30)
    selection = tag_selectors.profile_filter(city="北京", tier=ValueTier.HIGH)

    added = services.profiles_tag(
        profiles_qs=selection, tag=coffee, user=ops_user, provenance="import", expires_at=expires
    )

    assert added == 2
    assert tags_of(coffee) == {"bj-high-1", "bj-high-2"}
    rows = ProfileTag.objects.filter(tag=coffee)
    assert {(r.provenance, r.set_by, r.expires_at) for r in rows} == {
        (Provenance.IMPORT, ops_user, expires)
    }


def test_bulk_tagging_keeps_existing_tags_without_duplicates(coffee, shoppers, ops_user):
    earlier = ProfileTagFactory(profile=shoppers["bj-mass"], tag=coffee, provenance="rule")
    other = ProfileTagFactory(profile=shoppers["bj-high-1"], tag=TagFactory(slug="tea-lover"))

    added = services.profiles_tag(
        profiles_qs=tag_selectors.profile_filter(city="北京"), tag=coffee, user=ops_user
    )

    assert added == 2
    assert tags_of(coffee) == {"bj-high-1", "bj-high-2", "bj-mass"}
    earlier.refresh_from_db()
    assert earlier.provenance == Provenance.RULE
    assert ProfileTag.objects.filter(pk=other.pk).exists()


def test_bulk_tagging_in_many_small_chunks_misses_and_repeats_no_profile(
    coffee, shoppers, ops_user, monkeypatch
):
    monkeypatch.setattr(services, "BULK_CHUNK_SIZE", 2)
    more = ProfileFactory.create_batch(5, city="北京")
    progress = []

    added = services.profiles_tag(
        profiles_qs=tag_selectors.profile_filter(city="北京"),
        tag=coffee,
        user=ops_user,
        progress=progress.append,
    )

    assert added == 8
    assert tags_of(coffee) == {"bj-high-1", "bj-high-2", "bj-mass"} | {p.external_id for p in more}
    assert progress[-2:] == [8, 8]


def test_bulk_untagging_removes_the_tag_from_exactly_the_matching_profiles(
    coffee, shoppers, monkeypatch
):
    monkeypatch.setattr(services, "BULK_CHUNK_SIZE", 2)
    for profile in shoppers.values():
        ProfileTagFactory(profile=profile, tag=coffee)
    tea = ProfileTagFactory(profile=shoppers["bj-mass"], tag=TagFactory(slug="tea-lover"))

    removed = services.profiles_untag(
        profiles_qs=tag_selectors.profile_filter(city="北京"), tag=coffee
    )

    assert removed == 3
    assert tags_of(coffee) == {"sh-high", "sh-mass"}
    assert ProfileTag.objects.filter(pk=tea.pk).exists()


def test_the_selection_can_be_narrowed_to_profiles_carrying_a_live_tag(coffee, shoppers):
    ProfileTagFactory(profile=shoppers["bj-mass"], tag=coffee)
    ProfileTagFactory(profile=shoppers["sh-mass"], tag=coffee)
    ExpiredProfileTagFactory(profile=shoppers["sh-high"], tag=coffee)

    selection = tag_selectors.profile_filter(tier="mass", tag="coffee-lover")

    assert {p.external_id for p in selection} == {"bj-mass", "sh-mass"}
    assert not tag_selectors.profile_filter(tag="coffee-lover", city="上海", tier="high")


def test_an_expiry_in_the_past_is_refused(coffee, shoppers, ops_user):
    with pytest.raises(ValidationError) as refused:
        services.profiles_tag(
            profiles_qs=tag_selectors.profile_filter(),
            tag=coffee,
            user=ops_user,
            expires_at=timezone.now() - datetime.timedelta(minutes=1),
        )

    assert refused.value.message_dict["expires_at"] == [str(services.ERROR_EXPIRY_PAST)]
    assert not ProfileTag.objects.exists()


# Expiry.


def test_expiry_removes_only_the_tags_whose_time_has_passed(coffee):
    now = datetime.datetime(2025, 6, 1, 12, 0, tzinfo=datetime.UTC)
    ProfileTagFactory(tag=coffee, expires_at=now - datetime.timedelta(seconds=1))
    ProfileTagFactory(tag=coffee, expires_at=now)
    later = ProfileTagFactory(tag=coffee, expires_at=now + datetime.timedelta(seconds=1))
    forever = ProfileTagFactory(tag=coffee, expires_at=None)

    removed = services.profile_tags_expire(now=now)

    assert removed == 2
    assert set(ProfileTag.objects.all()) == {later, forever}


# Pages.


def test_the_taxonomy_page_counts_the_profiles_carrying_each_live_tag(ops_client, category, coffee):
    tea = TagFactory(slug="tea-lover", label="茶 Tea", category=category)
    TagFactory(slug="unused", category=TagCategoryFactory(slug="value", label="价值 Value"))
    ProfileTagFactory.create_batch(3, tag=coffee)
    ProfileTagFactory(tag=tea)
    ExpiredProfileTagFactory(tag=tea)

    response = ops_client.get(reverse("profiles:tags"))

    assert response.status_code == 200
    counts = {t.slug: t.profile_count for c in response.context["categories"] for t in c.tags.all()}
    assert counts == {"coffee-lover": 3, "tea-lover": 1, "unused": 0}
    assert "咖啡 Coffee" in response.content.decode()


def test_the_taxonomy_is_read_in_two_queries_however_many_tags(category, django_assert_num_queries):
    for n in range(5):
        ProfileTagFactory.create_batch(2, tag=TagFactory(slug=f"t{n}", category=category))

    with django_assert_num_queries(2):
        counts = [t.profile_count for c in tag_selectors.tag_taxonomy() for t in c.tags.all()]

    assert counts == [2] * 5


def test_ops_staff_create_a_tag_with_a_unicode_slug_from_the_form(ops_client, category):
    response = ops_client.post(
        reverse("profiles:tag-create"),
        {"category": category.pk, "slug": "宝妈", "label": "宝妈 Mum", "colour": "#f59e0b"},
    )

    assert response.status_code == 302
    tag = Tag.objects.get()
    assert (tag.slug, tag.colour) == ("宝妈", "#f59e0b")
    assert ops_client.get(reverse("profiles:tag-edit", args=["宝妈"])).status_code == 200


def test_the_tag_form_shows_the_error_and_stores_nothing_on_a_bad_colour(ops_client, category):
    response = ops_client.post(
        reverse("profiles:tag-create"),
        {"category": category.pk, "slug": "coupon-lover", "label": "优惠券", "colour": "#12"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["colour"] == [str(services.ERROR_COLOUR_INVALID)]
    assert not Tag.objects.exists()


def test_a_refused_edit_shows_the_form_again_with_the_tag_unchanged(ops_client, coffee):
    response = ops_client.post(
        reverse("profiles:tag-edit", args=["coffee-lover"]),
        {"category": coffee.category.pk, "slug": "", "label": "改", "colour": "#000000"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["slug"]
    assert response.context["tag"].slug == "coffee-lover"
    coffee.refresh_from_db()
    assert coffee.label == "咖啡 Coffee"


def test_ops_staff_edit_a_category_from_the_form(ops_client, category):
    response = ops_client.post(
        reverse("profiles:tag-category-edit", args=["interest"]),
        {"slug": "interests", "label": "兴趣爱好", "description": "", "position": 3},
    )

    assert response.status_code == 302
    category.refresh_from_db()
    assert (category.slug, category.label, category.position) == ("interests", "兴趣爱好", 3)


def test_deleting_a_carried_tag_from_the_page_needs_confirmation(ops_client, coffee):
    ProfileTagFactory(tag=coffee)
    url = reverse("profiles:tag-delete", args=["coffee-lover"])

    refused = ops_client.post(url, follow=True)
    kept = Tag.objects.filter(pk=coffee.pk).exists()
    confirmed = ops_client.post(url, {"force": "on"})

    assert services.ERROR_TAG_IN_USE.format(count=1) in refused.content.decode()
    assert kept
    assert confirmed.status_code == 302
    assert not Tag.objects.filter(pk=coffee.pk).exists()


def test_the_bulk_count_follows_the_filters(ops_client, shoppers):
    response = ops_client.get(
        reverse("profiles:tags-bulk-count"),
        {"city": "北京", "tier": "high"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert response.context["matched"] == 2
    assert 'data-count="2"' in response.content.decode()


def test_the_bulk_page_tags_the_selection_inline_and_says_how_many_changed(
    ops_client, ops_user, coffee, shoppers
):
    ops_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = ops_client.post(
        reverse("profiles:tags-bulk"),
        {
            "city": "上海",
            "target": "coffee-lover",
            "expires_at": "2099-01-01T10:00",
            "action": "add",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("profiles:tags-bulk") + (
        "?city=%E4%B8%8A%E6%B5%B7"
    )
    assert response.context["matched"] == 2
    assert "Added “咖啡 Coffee” to 2 profiles." in [str(m) for m in response.context["messages"]]
    assert tags_of(coffee) == {"sh-high", "sh-mass"}
    assert {(r.set_by, r.expires_at) for r in ProfileTag.objects.all()} == {
        (ops_user, datetime.datetime(2099, 1, 1, 10, 0, tzinfo=SHANGHAI))
    }


def test_the_bulk_page_untags_the_selection_inline(ops_client, coffee, shoppers):
    for profile in shoppers.values():
        ProfileTagFactory(profile=profile, tag=coffee)
    ops_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = ops_client.post(
        reverse("profiles:tags-bulk"),
        {"tier": "high", "target": "coffee-lover", "action": "remove"},
        follow=True,
    )

    assert "Removed “咖啡 Coffee” from 3 profiles." in [
        str(m) for m in response.context["messages"]
    ]
    assert tags_of(coffee) == {"bj-mass", "sh-mass"}


def test_the_bulk_page_refuses_an_expiry_in_the_past(ops_client, coffee, shoppers):
    response = ops_client.post(
        reverse("profiles:tags-bulk"),
        {"target": "coffee-lover", "expires_at": "2001-01-01T00:00", "action": "add"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["expires_at"] == [str(services.ERROR_EXPIRY_PAST)]
    assert not ProfileTag.objects.exists()


def test_a_large_selection_runs_as_a_background_job_shown_on_the_job_page(
    ops_client, ops_user, coffee, shoppers, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "BULK_INLINE_LIMIT", 2)
    monkeypatch.setattr(services, "BULK_CHUNK_SIZE", 2)

    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            reverse("profiles:tags-bulk"),
            {"city": "北京", "target": "coffee-lover", "action": "add"},
        )

    job = Job.objects.get(kind=services.JOB_KIND_BULK)
    assert response.status_code == 302
    assert response["Location"] == reverse("job-detail", args=[job.pk])
    assert job.created_by == ops_user
    assert (job.status, job.total, job.progress) == (JobStatus.DONE, 3, 3)
    assert job.result == {"action": "add", "tag": "coffee-lover", "changed": 3}
    assert tags_of(coffee) == {"bj-high-1", "bj-high-2", "bj-mass"}
    assert {r.set_by for r in ProfileTag.objects.all()} == {ops_user}


def test_a_background_untag_job_removes_the_tag(
    ops_client, coffee, shoppers, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "BULK_INLINE_LIMIT", 0)
    for profile in shoppers.values():
        ProfileTagFactory(profile=profile, tag=coffee)

    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post(
            reverse("profiles:tags-bulk"),
            {"tag": "coffee-lover", "tier": "mass", "target": "coffee-lover", "action": "remove"},
        )

    job = Job.objects.get(kind=services.JOB_KIND_BULK)
    assert job.status == JobStatus.DONE
    assert job.result["changed"] == 2
    assert tags_of(coffee) == {"bj-high-1", "bj-high-2", "sh-high"}


# Who may change tags.

CHANGES = [
    ("profiles:tag-category-create", [], {"slug": "value", "label": "价值", "position": 0}),
    ("profiles:tag-create", [], {"slug": "new-tag", "label": "新", "colour": "#000000"}),
    (
        "profiles:tag-edit",
        ["coffee-lover"],
        {"slug": "renamed", "label": "改", "colour": "#000000"},
    ),
    ("profiles:tag-delete", ["coffee-lover"], {"force": "on"}),
    ("profiles:tags-bulk", [], {"target": "coffee-lover", "action": "add"}),
]


@pytest.mark.parametrize("persona", ["outsider", "campaign_manager"])
@pytest.mark.parametrize(("name", "args", "data"), CHANGES)
def test_only_ops_staff_change_tags(client, request, coffee, shoppers, persona, name, args, data):
    client.force_login(request.getfixturevalue(persona))

    response = client.post(reverse(name, args=args), data)

    assert response.status_code == 403
    assert set(Tag.objects.values_list("slug", flat=True)) == {"coffee-lover"}
    assert TagCategory.objects.count() == 1
    assert not ProfileTag.objects.exists()


@pytest.mark.parametrize("persona", ["outsider", "campaign_manager"])
def test_only_ops_staff_open_the_bulk_pages(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    page = client.get(reverse("profiles:tags-bulk"))
    count = client.get(reverse("profiles:tags-bulk-count"))

    assert (page.status_code, count.status_code) == (403, 403)


def test_campaign_managers_read_the_taxonomy_but_outsiders_do_not(
    client, campaign_manager, outsider, coffee
):
    client.force_login(campaign_manager)
    allowed = client.get(reverse("profiles:tags"))
    client.force_login(outsider)
    refused = client.get(reverse("profiles:tags"))

    assert allowed.status_code == 200
    assert not allowed.context["can_edit"]
    assert refused.status_code == 403


def test_a_superuser_changes_tags_without_a_role(client, category):
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.post(
        reverse("profiles:tag-create"),
        {"category": category.pk, "slug": "vip", "label": "VIP", "colour": "#000000"},
    )

    assert response.status_code == 302
    assert Tag.objects.filter(slug="vip").exists()


@pytest.mark.parametrize(
    "name", ["profiles:tags", "profiles:tag-create", "profiles:tag-category-create"]
)
def test_ops_staff_open_the_taxonomy_pages(ops_client, coffee, name):
    response = ops_client.get(reverse(name))

    assert response.status_code == 200


def test_ops_staff_open_the_bulk_page_with_the_filters_filled_in(ops_client, coffee, shoppers):
    response = ops_client.get(reverse("profiles:tags-bulk"), {"city": "北京", "tier": "mass"})

    assert response.status_code == 200
    assert response.context["matched"] == 1
    assert response.context["form"]["city"].value() == "北京"
