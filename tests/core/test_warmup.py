"""The WSGI application warms itself up before it serves its first request."""

from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.template import engines
from django.urls import reverse

from config.warmup import server_warm_up
from core import charts


def cached_templates() -> set[str]:
    loader = engines["django"].engine.template_loaders[0]  # the cached loader
    return {key for key in loader.get_template_cache if isinstance(key, str)}


def test_the_warm_up_compiles_every_project_template_and_reads_the_chart_template():
    for backend in engines.all():
        backend.engine.template_loaders[0].reset()
    charts.template_json.cache_clear()

    server_warm_up()

    folder = Path(settings.BASE_DIR) / "templates"
    expected = {p.relative_to(folder).as_posix() for p in folder.rglob("*.html")}
    assert "profiles/detail.html" in expected
    assert expected <= cached_templates()
    assert charts.template_json.cache_info().currsize == 1


@pytest.mark.django_db
def test_the_wsgi_module_serves_the_warmed_up_application(connection_kept_across_requests):
    from config import wsgi

    environ = {"PATH_INFO": reverse("login"), "HTTP_HOST": "localhost"}
    setup_testing_defaults(environ)
    statuses = []
    body = b"".join(wsgi.application(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"] and b'name="password"' in body
