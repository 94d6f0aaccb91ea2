"""Imports refuse what would be read wrongly or too slowly: repeated header columns, a quote never
closed, too many columns, too many traits; and a profile page stays quick whatever it holds."""

import csv
import io
import time

import pytest
from django.core.management import CommandError, call_command

from core.errors import error_text
from profiles import ingest
from profiles.models import Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def write(tmp_path, text: str):
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


def run(command: str, path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, str(path), "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def preview(text: str, kind: str = "profiles") -> ingest.ImportPreview:
    return ingest.import_preview(source=io.BytesIO(text.encode()), kind=kind)


def test_a_header_naming_a_column_twice_is_refused_before_any_row_is_read(tmp_path):
    text = "external_id,city,tier,city\nc-1,上海,gold,北京\n"

    shown = preview(text)
    with pytest.raises(CommandError) as refused:
        run("import_profiles", write(tmp_path, text))

    message = ingest.ERROR_DUPLICATE_COLUMNS.format(columns="city")
    assert error_text(shown.fatal, translate=False) == message
    assert message in str(refused.value)
    assert not Profile.objects.exists()


def test_empty_header_cells_are_not_taken_for_repeated_columns():
    shown = preview("external_id,city,,\nc-1,上海,,\n")

    assert shown.fatal == ""
    assert shown.errors == []


def test_an_unterminated_quote_is_reported_at_the_line_it_opens(tmp_path):
    text = 'external_id,name\nc-1,李娜\nc-2,"王伟\nc-3,赵六\nc-4,钱七\n'

    shown = preview(text)
    _out, err = run("import_profiles", write(tmp_path, text))

    assert [str(error) for error in shown.errors] == [f"line 3: {ingest.ERROR_UNCLOSED_QUOTE}"]
    assert f"line 3: {ingest.ERROR_UNCLOSED_QUOTE}" in err
    assert list(Profile.objects.values_list("external_id", flat=True)) == ["c-1"]


def test_an_unterminated_quote_at_the_end_without_a_newline_is_reported_too():
    shown = preview('external_id,name\nc-1,"李娜')

    assert [str(error) for error in shown.errors] == [f"line 2: {ingest.ERROR_UNCLOSED_QUOTE}"]


def test_a_quoted_cell_running_past_the_cell_limit_is_reported_at_its_line():
    text = 'external_id,name\nc-1,"open\n' + "x" * 200_000 + "\nc-9,ok\n"

    shown = preview(text)

    limit = ingest.ERROR_CELL_TOO_LONG.format(limit=csv.field_size_limit())
    assert [str(error) for error in shown.errors] == [f"line 2: {limit}"]
    assert shown.rows[-1] == ["c-9", "ok"]


def test_closed_quotes_across_lines_are_still_one_good_cell():
    shown = preview('external_id,name\nc-1,"李\n娜"\nc-2,x\n')

    assert shown.errors == []
    assert shown.rows[0] == ["c-1", "李\n娜"]


def test_a_file_with_more_columns_than_allowed_is_refused(settings):
    settings.IMPORT_MAX_COLUMNS = 4

    shown = preview("external_id,a,b,c,d\nc-1,1,2,3,4\n")

    assert error_text(shown.fatal, translate=False) == ingest.ERROR_TOO_MANY_COLUMNS.format(
        count=5, limit=4
    )


def test_a_million_columns_are_refused_within_seconds(settings):
    header = "external_id," + ",".join(f"c{i}" for i in range(1_000_000))
    text = header + "\n" + "x," * 1_000_000 + "x\n"

    started = time.monotonic()
    shown = preview(text)

    assert time.monotonic() - started < 5
    assert error_text(shown.fatal, translate=False) == ingest.ERROR_TOO_MANY_COLUMNS.format(
        count=1_000_001, limit=settings.IMPORT_MAX_COLUMNS
    )


def test_a_profile_row_with_more_traits_than_a_profile_holds_is_refused(settings):
    settings.PROFILE_MAX_TRAITS = 3

    report = ingest.profiles_ingest(
        rows=enumerate(
            [
                {"external_id": "t-1", "traits": {f"k{i}": i for i in range(4)}},
                {"external_id": "t-2", "a": "1", "b": "2", "c": "3", "d": "4"},
                {"external_id": "t-3", "traits": {f"k{i}": i for i in range(3)}},
            ],
            start=1,
        )
    )

    message = ingest.ERROR_TOO_MANY_TRAITS.format(count=4, limit=3)
    assert [str(e) for e in report.errors] == [f"line 1: {message}", f"line 2: {message}"]
    assert list(Profile.objects.values_list("external_id", flat=True)) == ["t-3"]


def test_traits_merged_past_the_cap_leave_the_stored_traits_as_they_were(settings):
    settings.PROFILE_MAX_TRAITS = 3
    ingest.profiles_ingest(rows=enumerate([{"external_id": "m-1", "city": "上海", "a": "1"}]))
    ingest.profiles_ingest(rows=enumerate([{"external_id": "m-1", "b": "2", "c": "3"}]))

    report = ingest.profiles_ingest(
        rows=enumerate([{"external_id": "m-1", "city": "北京", "a": "9", "d": "4"}])
    )

    profile = Profile.objects.get(external_id="m-1")
    assert report.errors == []
    assert profile.city == "北京"
    assert profile.traits == {"a": 1, "b": 2, "c": 3}


def test_a_profile_holding_a_hundred_thousand_traits_shows_quickly_with_the_rest_counted(
    ops_client, settings
):
    settings.PROFILE_MAX_TRAITS = 100
    ProfileFactory(external_id="many", traits={f"trait{i:06d}": i for i in range(100_000)})

    started = time.monotonic()
    response = ops_client.get("/profiles/many/")

    page = response.content.decode()
    assert time.monotonic() - started < 3
    assert "trait000099" in page and "trait000100" not in page
    assert "and 99900 more traits, not shown" in page
