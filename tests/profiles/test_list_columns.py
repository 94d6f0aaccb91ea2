"""The profile list's total, sorting by any column through keyset pages, and chosen columns."""

import datetime

import pytest
from django.utils import timezone

from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def listed(response) -> list[str]:
    return [p.external_id for p in response.context["profiles"]]


def test_the_list_shows_how_many_profiles_match_the_filters(ops_client):
    ProfileFactory.create_batch(60, city="北京")
    ProfileFactory.create_batch(3, city="上海")

    everyone = ops_client.get("/profiles/")
    shanghai = ops_client.get("/profiles/?city=上海")

    assert 'data-testid="profile-total"><strong>63 profiles' in everyone.content.decode()
    assert len(listed(everyone)) == 50
    assert shanghai.context["total"] == 3


def test_a_column_header_sorts_and_turns_the_order_round(ops_client):
    for name in ("b", "c", "a"):
        ProfileFactory(external_id=f"p-{name}", name=name)

    ascending = ops_client.get("/profiles/?sort=name")
    descending = ops_client.get("/profiles/?sort=name&dir=desc")

    assert listed(ascending) == ["p-a", "p-b", "p-c"]
    assert listed(descending) == ["p-c", "p-b", "p-a"]
    assert 'href="?sort=name&amp;dir=desc" data-testid="sort-name"' in ascending.content.decode()


def test_tiers_sort_by_rank_and_empty_values_come_last(ops_client):
    ProfileFactory(external_id="mass", value_tier="mass")
    ProfileFactory(external_id="high", value_tier="high")
    ProfileFactory(external_id="none", value_tier="")
    ProfileFactory(external_id="mid", value_tier="mid")
    ProfileFactory(external_id="unseen", last_seen_at=None)
    ProfileFactory(external_id="seen", last_seen_at=timezone.now())

    tiers = listed(ops_client.get("/profiles/?sort=value_tier"))
    seen = listed(ops_client.get("/profiles/?sort=last_seen_at&dir=asc"))

    assert tiers[:3] == ["high", "mid", "mass"]
    assert seen[0] == "seen" and seen[-1] != "seen"


@pytest.mark.parametrize("sort", ["city", "-signup_at", "signup_at", "last_seen_at", "monetary"])
def test_a_column_sort_pages_by_keyset_through_ties_and_empty_values(ops_client, sort):
    start = timezone.now() - datetime.timedelta(days=10)
    for i in range(130):
        ProfileFactory(
            external_id=f"p{i:03}",
            city=["上海", "北京", "广州"][i % 3],
            signup_at=start + datetime.timedelta(hours=i % 7),
            last_seen_at=None if i % 4 == 0 else start + datetime.timedelta(hours=i % 5),
            monetary=i % 6,
        )
    column, descending = sort.lstrip("-"), sort.startswith("-")

    seen, params = [], {"sort": column, "dir": "desc" if descending else "asc"}
    for _page in range(5):
        response = ops_client.get("/profiles/", params)
        seen += listed(response)
        if not response.context["next_cursor"]:
            break
        params = {**params, "after": response.context["next_cursor"]}

    assert len(seen) == len(set(seen)) == 130


def test_the_chosen_columns_are_remembered_for_the_user(ops_client, client, ops_user):
    ProfileFactory(external_id="c-1", name="李娜", region="华东", city="上海")

    saved = ops_client.post(
        "/profiles/columns/", {"columns": ["region", "bogus"], "next": "/profiles/?city=上海"}
    )
    later = ops_client.get("/profiles/")
    reset_post = ops_client.post(
        "/profiles/columns/", {"reset": "1", "next": "https://evil.example.com/"}
    )
    reset = ops_client.get("/profiles/")

    assert saved["Location"] == "/profiles/?city=%E4%B8%8A%E6%B5%B7"
    assert [h["key"] for h in later.context["headers"]] == ["external_id", "region"]
    assert "华东" in later.content.decode() and "李娜" not in later.content.decode()
    assert reset_post["Location"] == "/profiles/"
    assert "李娜" in reset.content.decode()


def test_an_outsider_cannot_choose_columns(client, outsider):
    client.force_login(outsider)

    assert client.post("/profiles/columns/", {"columns": ["name"]}).status_code == 403
