"""The statements of segments.sql, each run on this database (SQLite, or PostgreSQL when
DATABASE_URL says so: CI runs the suite on both), and the Django behaviour they rely on."""

import datetime

import pytest
from django.db import connection
from django.db.models import F

from core.sql import select_sql
from profiles.models import Profile
from segments import sql
from segments.compiler import shared_matching, shared_measures
from segments.membership import membership_version_write
from segments.models import Segment, SegmentMembership, SegmentTransition
from segments.rules import parse_rule
from segments.services import shared_measures_drop, shared_measures_fill
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=datetime.UTC)


def ids(*external_ids: str) -> list[int]:
    return list(
        Profile.objects.filter(external_id__in=external_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def members(segment: Segment) -> set[str]:
    return set(segment.memberships.values_list("profile__external_id", flat=True))


@pytest.fixture
def people():
    for external_id, city in (("ann", "上海"), ("bob", "北京"), ("cat", "上海")):
        ProfileFactory(external_id=external_id, city=city)


@pytest.fixture
def segment(db):
    return Segment.objects.create(name="S", slug="s", kind=Segment.Kind.STATIC, rule={})


def chunk(*external_ids: str):
    rows = Profile.objects.filter(external_id__in=external_ids).values(profile_id=F("pk"))
    return select_sql(rows.order_by())


def test_entries_then_exits_write_a_version_each(people, segment):
    entered = membership_version_write(
        segment_id=segment.pk, version=1, now=NOW, entering=[chunk("ann", "bob")]
    )
    exited = membership_version_write(
        segment_id=segment.pk, version=2, now=NOW, leaving=(sql.EVERY_MEMBER, ())
    )

    assert (entered, exited) == ((2, 0), (0, 2))
    assert members(segment) == set()
    moves = SegmentTransition.objects.filter(segment=segment).order_by("version", "profile_id")
    assert list(moves.values_list("version", "entered", "profile_id")) == [
        (1, True, ids("ann", "bob")[0]),
        (1, True, ids("ann", "bob")[1]),
        (2, False, ids("ann", "bob")[0]),
        (2, False, ids("ann", "bob")[1]),
    ]


def test_members_do_not_enter_again_and_overlapping_chunks_enter_once(people, segment):
    membership_version_write(segment_id=segment.pk, version=1, now=NOW, entering=[chunk("ann")])

    result = membership_version_write(
        segment_id=segment.pk,
        version=2,
        now=NOW,
        entering=[chunk("ann", "bob"), chunk("bob", "cat")],
        once=True,
    )

    assert result == (2, 0)
    assert members(segment) == {"ann", "bob", "cat"}
    assert (
        SegmentMembership.objects.get(segment=segment, profile__external_id="cat").version_added
        == 2
    )


def test_the_result_table_drives_exits_and_entries_and_an_unchanged_result_writes_nothing(
    people, segment
):
    def evaluate(version: int, *external_ids: str):
        select, params = chunk(*external_ids)
        with connection.cursor() as cursor:
            for statement in sql.result_table_create():
                cursor.execute(statement)
            cursor.execute(sql.result_table_fill(select), params)
            for statement in sql.result_table_index():
                cursor.execute(statement)
        written = membership_version_write(
            segment_id=segment.pk,
            version=version,
            now=NOW,
            leaving=(sql.NOT_IN_RESULT, ()),
            entering=[(sql.IN_RESULT, ())],
        )
        with connection.cursor() as cursor:
            cursor.execute(sql.result_table_drop())
        return written

    assert evaluate(1, "ann", "bob") == (2, 0)
    assert evaluate(2, "bob", "cat") == (1, 1)
    transitions = SegmentTransition.objects.count()
    assert evaluate(3, "bob", "cat") == (0, 0)
    assert SegmentTransition.objects.count() == transitions
    assert members(segment) == {"bob", "cat"}


def test_shared_matching_scans_the_narrow_profile_copy(people):
    # Pins the Django behaviour shared_matching relies on: replacing the base table of a query's
    # initial alias makes the query read that table, under the profile table's alias.
    tree = parse_rule({"attr": "city", "op": "eq", "value": "上海"})
    plan = shared_measures(set(), profile_columns={"city"}, prefix="pinned")
    shared_measures_fill(plan=plan, now=NOW)
    try:
        queryset = shared_matching(tree, now=NOW, shared=plan)
        select, _params = select_sql(queryset)
        with connection.cursor() as cursor:  # rows only the copy has: the query reads it
            cursor.execute(f"UPDATE {plan.profiles} SET city = %s", ["上海"])
        found = set(
            Profile.objects.filter(pk__in=[row["pk"] for row in queryset]).values_list(
                "external_id", flat=True
            )
        )
    finally:
        shared_measures_drop(plan=plan)

    assert f"FROM {connection.ops.quote_name(plan.profiles)}" in select or (
        f"FROM {plan.profiles}" in select
    )
    assert found == {"ann", "bob", "cat"}


def test_the_shared_tables_fill_with_numbers_and_ids(people):
    from tests.factories import ProfileTagFactory, PurchaseFactory, TagFactory

    ann = Profile.objects.get(external_id="ann")
    PurchaseFactory(profile=ann, occurred_at=NOW - datetime.timedelta(days=1), amount=12.5)
    PurchaseFactory(profile=ann, occurred_at=NOW - datetime.timedelta(days=40), amount=1)
    ProfileTagFactory(profile=ann, tag=TagFactory(slug="vip"))
    keys = {("purchase", "count", 30, ()), ("purchase", "sum", 90, ())}
    plan = shared_measures(keys, tags={"vip"}, profile_columns={"city"}, prefix="filled")

    shared_measures_fill(plan=plan, now=NOW)
    try:
        with connection.cursor() as cursor:
            (table,) = plan.tables
            cursor.execute(f"SELECT profile_id, m0, m1 FROM {table} WHERE m0 >= 1 AND m1 > 13")
            measures = [tuple(row) for row in cursor.fetchall()]
            cursor.execute(f"SELECT profile_id FROM {plan.tags['vip']} WHERE profile_id > 0")
            carriers = [row[0] for row in cursor.fetchall()]
            cursor.execute(f"SELECT COUNT(*) FROM {plan.profiles}")
            copied = cursor.fetchone()[0]
    finally:
        shared_measures_drop(plan=plan)

    assert [(pk, count) for pk, count, _total in measures] == [(ann.pk, 1)]
    assert float(measures[0][2]) == 13.5
    assert carriers == [ann.pk]
    assert copied == 3


def test_the_shared_reads_select_the_ids_meeting_each_comparison(people):
    from tests.factories import ProfileTagFactory, PurchaseFactory, TagFactory

    ann, bob = Profile.objects.get(external_id="ann"), Profile.objects.get(external_id="bob")
    for who, amounts in ((ann, (12.5, 1)), (bob, (4,))):
        for amount in amounts:
            PurchaseFactory(
                profile=who, occurred_at=NOW - datetime.timedelta(days=1), amount=amount
            )
    ProfileTagFactory(profile=bob, tag=TagFactory(slug="vip"))
    plan = shared_measures({("purchase", "count", 30, ())}, tags={"vip"}, prefix="read")
    ((table, column),) = plan.columns.values()

    def read(where: str, params: list) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(f"{sql.shared_ids(table, where)} ORDER BY profile_id", params)
            return [row[0] for row in cursor.fetchall()]

    shared_measures_fill(plan=plan, now=NOW)
    try:
        at_least_two = read(*sql.comparison(column, "gte", 2))
        one_to_two = read(*sql.comparison(column, "between", (1, 2)))
        test, params = sql.comparison(column, "lt", 2)
        not_below_two = read(f"NOT ({test})", params)
        with connection.cursor() as cursor:
            cursor.execute(sql.shared_ids(plan.tags["vip"]))
            carriers = [row[0] for row in cursor.fetchall()]
    finally:
        shared_measures_drop(plan=plan)

    assert at_least_two == not_below_two == [ann.pk]
    assert one_to_two == sorted([ann.pk, bob.pk])
    assert carriers == [bob.pk]
