"""bench_pages: it times every profile page through the WSGI application, and says why it cannot."""

import pytest
from django.contrib.auth import get_user_model

from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("redirect", [False, True])
def test_the_page_benchmark_times_every_page_also_with_the_production_https_redirect(
    settings, redirect, connection_kept_across_requests
):
    from tools.management.commands.bench_pages import time_profile_pages

    settings.SECURE_SSL_REDIRECT = redirect
    for number in range(3):
        profile = ProfileFactory(external_id=f"b-{number}", name="王芳")
        EventFactory(profile=profile)
    said: list[str] = []

    figures = time_profile_pages(samples=2, say=said.append)

    assert figures["profiles_in_table"] == 3
    assert {"list_ms_median", "detail_ms_max", "list_search_name_ms_median"} <= figures.keys()
    assert said[0].startswith("WSGI application loaded and warmed up") and "start_ms" in figures
    assert len(said) == 8 and all(" ms, max " in line for line in said[1:])
    assert not get_user_model().objects.filter(username="bench-pages").exists()  # cleaned up


def test_the_page_benchmark_names_a_page_that_does_not_answer_200(
    settings, connection_kept_across_requests
):
    from django.core.management.base import CommandError

    from tools.management.commands.bench_pages import time_profile_pages

    ProfileFactory(external_id="b-1")
    settings.ALLOWED_HOSTS = ["elsewhere.example"]  # every request is refused with 400

    with pytest.raises(CommandError, match=r"^/profiles/ answered 400$"):
        time_profile_pages(samples=1, say=lambda line: None)
    assert not get_user_model().objects.filter(username="bench-pages").exists()


def test_the_page_benchmark_stops_at_once_when_static_files_are_not_collected(settings, tmp_path):
    from django.core.management.base import CommandError

    from tools.management.commands.bench_pages import check_pages_render

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path  # nothing collected there
    settings.DEBUG = False
    with pytest.raises(CommandError, match="collectstatic"):
        check_pages_render()


def test_the_page_benchmark_times_the_portrait_of_a_segment_and_cleans_up(
    connection_kept_across_requests,
):
    from segments.models import Segment
    from tools.management.commands.bench_pages import time_portrait

    for number in range(10):
        ProfileFactory(external_id=f"p-{number}", city="上海" if number % 2 else "北京")
    said: list[str] = []

    figures = time_portrait(members=5, samples=1, say=said.append)

    assert figures["portrait_members"] == 5
    assert {
        "portrait_cold_ms_median",
        "portrait_segment_cold_ms_max",
        "portrait_warm_ms_median",
        "portrait_baseline_ms_median",
        "portrait_cold_ratio",
    } <= figures.keys()
    assert figures["portrait_warm_ms_median"] <= figures["portrait_cold_ms_max"] * 5
    assert said[0] == "portrait: segment of 5 members created" and len(said) == 5
    assert not Segment.objects.filter(slug="bench-portrait").exists()
    assert not get_user_model().objects.filter(username="bench-pages").exists()


def test_the_portrait_benchmark_needs_as_many_profiles_as_members(db):
    from django.core.management.base import CommandError

    from tools.management.commands.bench_pages import portrait_segment_create

    ProfileFactory()

    with pytest.raises(CommandError, match="needs as many profiles"):
        portrait_segment_create(members=2)


def test_the_page_benchmark_signs_in_as_ops_staff_who_need_no_second_step(db):
    from core.roles import OPS, user_has_role, user_is_privileged
    from tools.management.commands.bench_pages import _bench_client

    _application, user, _cookie = _bench_client()

    # a superuser (as before) gets the two-step sign-in page (302) instead of the pages timed
    assert user_has_role(user, OPS) and not user_is_privileged(user)
