"""Segment pages: the members table (sorted, paged, masked), size over time, portrait, overlap."""

import datetime
import re

import pytest
import time_machine
from auditlog.models import LogEntry
from django.utils import timezone, translation

from profiles.models import Profile
from segments.models import Segment, SegmentMembership, SegmentRun
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def segment(db):
    segment = Segment.objects.create(name="名单", slug="list", kind=Segment.Kind.STATIC)
    seen = timezone.now() - datetime.timedelta(days=2)
    for external_id, name, city, tier, last_seen in [
        ("a", "王芳", "深圳", "mass", seen),
        ("b", "李雷", "北京", "high", None),
        ("c", "Zoe", "广州", "mid", seen - datetime.timedelta(days=1)),
    ]:
        profile = ProfileFactory(
            external_id=external_id,
            name=name,
            city=city,
            value_tier=tier,
            last_seen_at=last_seen,
            email=f"{external_id}person@example.com",
        )
        SegmentMembership.objects.create(segment=segment, profile=profile)
    ProfileFactory(external_id="outside", city="上海", value_tier="high")
    return segment


def _members(page: str) -> list[str]:
    table = page[page.index('data-testid="members"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'href="/profiles/([^/]+)/"', table)


def test_members_show_name_city_tier_and_last_seen_with_masked_email(ops_client, segment):
    page = ops_client.get("/segments/list/").content.decode()

    assert "王芳" in page and "High value" in page and "北京" in page
    assert "a***@example.com" in page and "aperson@example.com" not in page
    assert 'data-testid="sort-last_seen"' in page
    assert "3 profiles" in page


def test_a_consent_admin_sees_emails_in_full_and_the_trail_records_it(
    client, consent_admin, segment
):
    client.force_login(consent_admin)

    page = client.get("/segments/list/").content.decode()

    assert "aperson@example.com" in page
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS).count() == 3


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["a", "b", "c"]),  # membership order
        ("name", ["c", "b", "a"]),  # "Zoe" < "李雷" < "王芳" by code point
        ("city", ["b", "c", "a"]),  # 北京, 广州, 深圳 by code point
        ("-city", ["a", "c", "b"]),
        ("tier", ["a", "c", "b"]),  # mass, mid, high
        ("-tier", ["b", "c", "a"]),
        ("last_seen", ["c", "a", "b"]),  # never seen last
        ("-last_seen", ["a", "c", "b"]),  # never seen last either way
        ("bogus", ["a", "b", "c"]),
    ],
)
def test_members_sort_by_each_column(ops_client, segment, sort, expected):
    page = ops_client.get(f"/segments/list/?sort={sort}").content.decode()

    assert _members(page) == expected


def test_the_sorted_column_links_to_the_other_direction(ops_client, segment):
    page = ops_client.get("/segments/list/?sort=city").content.decode()

    assert 'aria-sort="ascending"' in page
    assert 'href="?sort=-city#members"' in page
    assert 'href="?sort=name#members"' in page


def test_members_are_paged(ops_client, segment):
    for number in range(30):
        SegmentMembership.objects.create(
            segment=segment, profile=ProfileFactory(external_id=f"m{number:02d}")
        )

    first = ops_client.get("/segments/list/").content.decode()
    second = ops_client.get("/segments/list/?page=2").content.decode()

    assert len(_members(first)) == 25 and len(_members(second)) == 8
    assert not set(_members(first)) & set(_members(second))
    assert "Page 1 of 2" in first and 'href="?sort=since&amp;page=2#members"' in first
    assert ops_client.get("/segments/list/?page=99").status_code == 200  # the last page


def test_a_segment_never_evaluated_says_so_instead_of_drawing_axes(ops_client, segment):
    page = ops_client.get("/segments/list/").content.decode()

    history = page[page.index('data-testid="size-history"') :]
    assert "Not evaluated yet: there is no size history." in history
    assert "plotly-graph-div" not in history[: history.index("</section>")]


def test_a_single_run_is_a_sentence_in_local_time(ops_client, segment):
    SegmentRun.objects.create(
        segment=segment,
        started_at=datetime.datetime(2025, 3, 1, 16, 30, tzinfo=datetime.UTC),
        size=1234,
    )

    page = ops_client.get("/segments/list/").content.decode()

    assert "One size so far: 1,234 members at 2025-03-02 00:30." in page


def test_runs_over_days_draw_a_daily_line_on_a_category_axis(ops_client, segment):
    for day, size in [(1, 3), (2, 5), (4, 4)]:
        SegmentRun.objects.create(
            segment=segment,
            started_at=datetime.datetime(2025, 3, day, 2, 0, tzinfo=datetime.UTC),
            size=size,
        )
    SegmentRun.objects.create(segment=segment, size=None, error="boom")  # failed: not a point

    page = ops_client.get("/segments/list/").content.decode()

    assert "Size over time, by day" in page
    assert '"type":"category"' in page
    assert '"x":["2025-03-01","2025-03-02","2025-03-03","2025-03-04"]' in page
    assert '"y":[3,5,5,4]' in page


def test_the_portrait_page_shows_each_dimension_with_its_index(ops_client, segment):
    tag = TagFactory(slug="vip", label="VIP")
    for external_id in ("a", "b"):
        ProfileTagFactory(profile=Profile.objects.get(external_id=external_id), tag=tag)
    EventFactory(profile=segment.memberships.first().profile, channel="store")

    page = ops_client.get("/segments/list/portrait/").content.decode()

    assert "3 members, compared with all 4 profiles." in page
    for key in ("city", "gender", "age", "channel", "tier", "stage", "tag", "touchpoint"):
        assert f'data-testid="portrait-{key}"' in page
    tags = page[page.index('data-testid="portrait-tag"') :]
    # VIP: 2 of 3 members (66.7%), 2 of 4 profiles (50.0%): TGI 133
    assert re.search(r"VIP</td><td class=\"num\">2</td>\s*<td class=\"num\">66.7%</td>", tags)
    assert re.search(r"50.0%</td>\s*<td class=\"num\" data-above=\"1\">133</td>", tags)
    assert page.count('class="plotly-graph-div"') >= 7  # one chart per dimension with values


def test_the_portrait_of_an_empty_segment_says_so(ops_client):
    Segment.objects.create(name="空", slug="empty", kind=Segment.Kind.STATIC)

    page = ops_client.get("/segments/empty/portrait/").content.decode()

    assert 'data-testid="portrait-empty"' in page and "plotly-graph-div" not in page


def test_the_overlap_page_compares_the_chosen_segments(ops_client, segment):
    other = Segment.objects.create(name="北京人", slug="bj", kind=Segment.Kind.STATIC)
    SegmentMembership.objects.create(segment=other, profile=segment.memberships.first().profile)
    SegmentMembership.objects.create(segment=other, profile=ProfileFactory(external_id="only-bj"))

    page = ops_client.get("/segments/list/overlap/?with=bj").content.decode()

    pairs = page[page.index('data-testid="overlap-pairs"') :]
    assert re.search(
        r"<td>名单</td><td>北京人</td><td class=\"num\">1</td>"
        r"<td class=\"num\">4</td><td class=\"num\">0.250</td>",
        pairs,
    )
    assert '<td>名单 ∩ 北京人</td><td class="num">1</td>' in page
    assert 'class="plotly-graph-div"' in page


def test_the_overlap_page_names_a_bad_choice(ops_client, segment):
    response = ops_client.get("/segments/list/overlap/?with=nope")

    assert response.status_code == 400
    assert "No segment has the slug “nope”." in response.content.decode()


def test_the_overlap_page_without_a_choice_shows_the_form(ops_client, segment):
    response = ops_client.get("/segments/list/overlap/")

    assert response.status_code == 200 and 'data-testid="overlap-form"' in response.content.decode()


@pytest.mark.parametrize("path", ["", "portrait/", "overlap/?with=list"])
def test_every_role_opens_the_segment_pages_and_an_outsider_is_refused(
    client, segment, ops_user, campaign_manager, consent_admin, outsider, path
):
    for user in (ops_user, campaign_manager, consent_admin):
        client.force_login(user)
        assert client.get(f"/segments/list/{path}").status_code == 200, user.username
    client.force_login(outsider)
    assert client.get(f"/segments/list/{path}").status_code == 403


def test_the_pages_speak_chinese(ops_client, segment):
    other = Segment.objects.create(name="北京人", slug="bj", kind=Segment.Kind.STATIC)
    SegmentMembership.objects.create(segment=other, profile=segment.memberships.first().profile)

    with translation.override("zh-hans"):
        detail = ops_client.get("/segments/list/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    pages = [
        ops_client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        for path in (
            "/segments/list/",
            "/segments/list/portrait/",
            "/segments/list/overlap/?with=bj",
        )
    ]

    assert detail.status_code == 200
    assert "高价值" in pages[0] and "最近活跃" in pages[0] and "人群画像" in pages[1]
    for english in ("Last seen", "Share in base", "Members", "High value", "Not set", "In both"):
        assert all(english not in page for page in pages), english


def test_time_of_the_size_note_follows_the_time_zone(ops_client, segment, settings):
    settings.TIME_ZONE = "Europe/London"
    SegmentRun.objects.create(
        segment=segment,
        started_at=datetime.datetime(2025, 3, 1, 16, 30, tzinfo=datetime.UTC),
        size=7,
    )

    with time_machine.travel(datetime.datetime(2025, 3, 2, tzinfo=datetime.UTC)):
        page = ops_client.get("/segments/list/").content.decode()

    assert "7 members at 2025-03-01 16:30." in page
