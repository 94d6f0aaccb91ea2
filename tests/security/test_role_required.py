"""Every back-office screen needs a role: a signed-in user who holds none sees no personal data
and starts no job; they may still sign out and change their password."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from core.models import Job
from core.roles import ROLE_FREE_VIEWS
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

PUBLIC_PREFIXES = ("api/", "c/", "anymail/")
SAMPLES = {"int": "1", "slug": "x", "str": "x", "path": "x", "uuid": "0" * 32}


def _paths(patterns=None, prefix=""):
    """Yield (path, view name) for each back-office route, its parameters filled with samples."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            namespace = f"{entry.namespace}:" if entry.namespace else ""
            for path, name in _paths(entry.url_patterns, prefix + route):
                yield path, namespace + name
        elif isinstance(entry, URLPattern):
            view = entry.callback
            if getattr(view, "login_required", True) is False:
                continue
            filled = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m[1] or "str", "x"), route)
            yield "/" + prefix + filled, entry.name or ""


def test_a_user_without_a_role_reads_no_page_of_personal_data(client, outsider):
    profile = ProfileFactory(
        external_id="crm-1", email="li.lei@example.com", phone="+8613800138000"
    )
    client.force_login(outsider)

    answers = {
        path: client.get(path) for path in ("/", "/profiles/", f"/profiles/{profile.external_id}/")
    }

    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(answers, 403)
    for response in answers.values():
        assert "li.lei@example.com" not in response.content.decode()


def test_a_user_without_a_role_queues_no_job(client, outsider):
    client.force_login(outsider)

    response = client.post("/jobs/selftest/")

    assert response.status_code == 403
    assert not Job.objects.exists()


def test_every_back_office_route_refuses_a_user_without_a_role(client, outsider):
    client.force_login(outsider)
    routes = [
        (path, name)
        for path, name in _paths()
        if not path.lstrip("/").startswith(PUBLIC_PREFIXES) and name not in ROLE_FREE_VIEWS
    ]

    allowed = {
        path: status for path, _name in routes if (status := client.get(path).status_code) != 403
    }

    assert len(routes) > 40
    assert allowed == {}


def test_every_back_office_route_refuses_a_post_from_a_user_without_a_role(client, outsider):
    client.force_login(outsider)
    routes = [
        path
        for path, name in _paths()
        if not path.lstrip("/").startswith(PUBLIC_PREFIXES) and name not in ROLE_FREE_VIEWS
    ]

    allowed = {path: status for path in routes if (status := client.post(path).status_code) != 403}

    assert allowed == {}
    assert not Job.objects.exists()


def test_every_api_operation_refuses_a_user_without_a_role(client, outsider):
    ProfileFactory(external_id="x", email="li.lei@example.com")
    schema = SchemaGenerator().get_schema(request=None, public=True)
    client.force_login(outsider)
    operations = [
        (method.upper(), re.sub(r"\{\w+\}", "x", path))
        for path, methods in schema["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    ]

    allowed = {
        f"{method} {path}": response.status_code
        for method, path in operations
        if (
            response := client.generic(method, path, "{}", content_type="application/json")
        ).status_code
        != 403
    }

    assert len(operations) > 30
    assert allowed == {}
    assert not Job.objects.exists()


def test_a_user_without_a_role_may_still_sign_out_and_change_password(client, outsider):
    client.force_login(outsider)

    password = client.get("/accounts/password/")
    logout = client.post("/accounts/logout/")

    assert password.status_code == 200
    assert logout.status_code in (200, 302)


def test_a_staff_user_without_a_role_reads_no_profile_in_the_admin(client, outsider):
    outsider.is_staff = True
    outsider.save()
    outsider.user_permissions.set(Permission.objects.filter(codename="view_profile"))
    ProfileFactory(email="li.lei@example.com")
    client.force_login(outsider)

    response = client.get("/admin/profiles/profile/")

    assert response.status_code == 403
    assert "li.lei@example.com" not in response.content.decode()


def test_every_role_still_opens_the_dashboard(client, ops_user, campaign_manager, consent_admin):
    for user in (ops_user, campaign_manager, consent_admin):
        client.force_login(user)

        assert client.get("/").status_code == 200
