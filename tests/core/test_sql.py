"""core.sql.select_sql, run on the database of the suite (SQLite, or PostgreSQL: CI runs both),
pinning the Django behaviour it relies on, and core.sql.ping. The bulk-write statements are in
test_bulk.py."""

import pytest
from django.db import connection

from core.sql import ping, select_sql
from profiles.models import Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def test_select_sql_selects_what_the_queryset_does():
    for external_id, city in (("ann", "上海"), ("bob", "北京"), ("cat", "上海")):
        ProfileFactory(external_id=external_id, city=city)
    queryset = Profile.objects.filter(city="上海").order_by("pk").values_list("pk", "city")

    select, params = select_sql(queryset)
    with connection.cursor() as cursor:
        cursor.execute(select, params)
        rows = [tuple(row) for row in cursor.fetchall()]

    assert rows == list(queryset)
    assert len(rows) == 2
    assert "上海" in params  # values stay parameters, never interpolated
    assert "上海" not in select


def test_ping_runs_the_trivial_query():
    assert ping() == 1
