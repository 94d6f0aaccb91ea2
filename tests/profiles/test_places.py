"""City and region names in one spelling: the data, ingest (CSV and API), filters, migration."""

import csv
import importlib
import io

import pytest
from django.apps import apps
from django.core.management import call_command
from rest_framework.test import APIClient

from profiles.models import Profile
from profiles.places import (
    DATA,
    cities,
    city_normalised,
    city_spellings,
    region_normalised,
    region_spellings,
    regions,
)
from tests.factories import ProfileFactory

places_migration = importlib.import_module("profiles.migrations.0010_places_normalised")


@pytest.mark.parametrize(
    "spelling",
    ["上海", "上海市", "Shanghai", "shanghai", " SHANGHAI ", "Shanghai City", "shang-hai", "上海 "],
)
def test_every_spelling_of_shanghai_is_stored_as_one_city(spelling):
    assert city_normalised(spelling) == "上海"


@pytest.mark.parametrize(
    ("spelling", "stored"),
    [
        ("Xi'an", "西安"),
        ("XIAN", "西安"),
        ("西安市", "西安"),
        ("Lüliang", "吕梁"),
        ("Lvliang", "吕梁"),
        ("Peking", "北京"),
        ("Canton", "广州"),
        ("Hong Kong", "香港"),
        ("Suzhou", "苏州"),  # the alias tells it from 宿州 (also Suzhou)
        ("宿州市", "宿州"),
        ("Urumqi", "乌鲁木齐"),
        ("Huangshi", "黄石"),  # ends in "shi" without being the suffix
    ],
)
def test_chinese_full_names_pinyin_and_old_names_find_the_city(spelling, stored):
    assert city_normalised(spelling) == stored


@pytest.mark.parametrize("spelling", ["Taizhou", "Yulin", "Yichun"])
def test_a_pinyin_name_of_two_cities_without_an_alias_is_kept_as_given(spelling):
    assert city_normalised(spelling) == spelling  # 泰州/台州, 玉林/榆林, 伊春/宜春: no guess


def test_a_name_the_data_does_not_hold_is_kept_trimmed():
    assert city_normalised("  Singapore ") == "Singapore"
    assert region_normalised("华东") == "华东"


@pytest.mark.parametrize(
    ("spelling", "stored"),
    [
        ("广东省", "广东"),
        ("Guangdong Province", "广东"),
        ("guangdong", "广东"),
        ("内蒙古自治区", "内蒙古"),
        ("Inner Mongolia", "内蒙古"),
        ("Xizang", "西藏"),
        ("Shaanxi", "陕西"),
        ("Shanxi", "山西"),
        ("上海市", "上海"),
    ],
)
def test_regions_are_stored_by_their_short_chinese_name(spelling, stored):
    assert region_normalised(spelling) == stored


def test_a_filter_matches_every_spelling_of_the_place():
    assert set(city_spellings("Shanghai")) == {"上海", "上海市", "Shanghai"}
    assert city_spellings("上海市")[0] == "上海"
    assert set(region_spellings("广东省")) == {"广东", "广东省", "Guangdong", "Kwangtung"}
    assert city_spellings(" Singapore ") == ("Singapore",)


def test_the_shipped_data_is_whole_and_consistent():
    names = [city.name for city in cities()]
    region_names = {region.name for region in regions()}

    assert len(regions()) == 34  # provinces, regions, municipalities, Hong Kong, Macau, Taiwan
    assert len(names) > 290 and len(names) == len(set(names))
    assert {city.province for city in cities()} <= region_names
    assert {"北京", "上海", "广州", "深圳", "杭州", "成都", "拉萨", "乌鲁木齐"} <= set(names)
    with (DATA / "cn_cities.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == ["province", "name", "full_name", "english", "aliases"]


# Ingest and filters -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_csv_import_stores_one_spelling_of_each_place(tmp_path):
    path = tmp_path / "profiles.csv"
    path.write_text(
        "external_id,city,region\n"
        "a,上海市,上海市\n"
        "b,Shanghai,Shanghai\n"
        "c,Guangzhou,广东省\n"
        "d,Singapore,Singapore\n",
        encoding="utf-8",
    )

    call_command("import_profiles", str(path), "--no-progress", stdout=io.StringIO())

    stored = dict(Profile.objects.values_list("external_id", "city"))
    assert stored == {"a": "上海", "b": "上海", "c": "广州", "d": "Singapore"}
    regions_stored = dict(Profile.objects.values_list("external_id", "region"))
    assert regions_stored == {"a": "上海", "b": "上海", "c": "广东", "d": "Singapore"}


@pytest.fixture
def api(ops_user):
    client = APIClient()
    client.force_login(ops_user)
    return client


@pytest.mark.django_db
def test_the_api_upsert_stores_one_spelling_of_each_place(api):
    response = api.post(
        "/api/v1/profiles/",
        {"external_id": "api-1", "city": "Shenzhen", "region": "Guangdong Province"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["city"] == "深圳"
    assert Profile.objects.filter(external_id="api-1", city="深圳", region="广东").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", ["上海", "上海市", "Shanghai", "shanghai"])
def test_the_api_filter_accepts_any_spelling_of_a_city(api, spelling):
    ProfileFactory(external_id="sh", city="上海", region="上海")
    ProfileFactory(external_id="old", city="Shanghai")  # stored before the normalisation
    ProfileFactory(external_id="bj", city="北京", region="北京")

    response = api.get("/api/v1/profiles/", {"city": spelling})

    assert sorted(row["external_id"] for row in response.json()["results"]) == ["old", "sh"]


@pytest.mark.django_db
def test_the_api_filter_accepts_any_spelling_of_a_region(api):
    ProfileFactory(external_id="gz", city="广州", region="广东")
    ProfileFactory(external_id="bj", city="北京", region="北京")

    response = api.get("/api/v1/profiles/", {"region": "Guangdong"})

    assert [row["external_id"] for row in response.json()["results"]] == ["gz"]


@pytest.mark.django_db
def test_the_profile_list_filter_accepts_any_spelling_of_a_city(ops_client):
    ProfileFactory(external_id="sh", city="上海")
    ProfileFactory(external_id="bj", city="北京")

    page = ops_client.get("/profiles/", {"city": "Shanghai"}).content.decode()

    assert ">sh<" in page and ">bj<" not in page


@pytest.mark.django_db
def test_the_migration_normalises_the_stored_places_and_keeps_the_unknown_ones():
    ProfileFactory(external_id="a", city="上海市", region="Shanghai")
    ProfileFactory(external_id="b", city="Hangzhou", region="浙江省")
    ProfileFactory(external_id="c", city="Singapore", region="")
    ProfileFactory(external_id="d", city="", region="华东")

    places_migration.places_normalise(apps, None)

    stored = {
        external_id: (city, region)
        for external_id, city, region in Profile.objects.values_list(
            "external_id", "city", "region"
        )
    }
    assert stored == {
        "a": ("上海", "上海"),
        "b": ("杭州", "浙江"),
        "c": ("Singapore", ""),
        "d": ("", "华东"),
    }
