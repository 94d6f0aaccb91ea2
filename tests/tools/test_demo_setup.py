"""`demo_setup`: demo data, evaluated demo segments and the demo logins, once."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from flows.models import Flow
from segments.models import Segment

pytestmark = pytest.mark.django_db


def test_it_seeds_evaluates_the_demo_segments_and_prints_the_logins(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()

    call_command("demo_setup", profiles=300, events=3000, stdout=out)
    call_command("demo_setup", profiles=300, events=3000, stdout=io.StringIO())  # again: no-op

    segments = Segment.objects.filter(slug__in=["shanghai", "high-value", "repeat-buyers-90d"])
    assert segments.count() == 3
    assert all(segment.status == Segment.Status.READY for segment in segments)
    assert segments.get(slug="shanghai").size > 0
    assert (
        get_user_model()
        .objects.filter(username__in=["admin", "ops", "campaigns", "consent"])
        .count()
        == 4
    )
    assert "http://127.0.0.1:8000/" in out.getvalue()
    assert Flow.objects.get(slug="cart-reminder").status == Flow.Status.LIVE
