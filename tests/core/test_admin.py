"""Every model of the project is registered in the Django admin, and its pages open."""

import pytest
from django.apps import apps
from django.contrib import admin

PROJECT_APPS = {"core", "profiles", "segments", "campaigns", "journeys", "flows"}


def test_every_project_model_is_registered_in_the_admin():
    models = [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]

    missing = [m.__name__ for m in models if not admin.site.is_registered(m)]

    assert models
    assert missing == []


@pytest.mark.django_db
def test_each_admin_list_page_opens_for_a_superuser(admin_client):
    for model in admin.site._registry:
        if model._meta.app_label not in PROJECT_APPS:
            continue
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"

        response = admin_client.get(url)

        assert response.status_code == 200, url
