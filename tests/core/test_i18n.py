"""The UI speaks Simplified Chinese and English, and times are shown in the configured zone."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def product_default_language(settings):
    """Use the product's default language (the other tests run in English)."""
    settings.LANGUAGE_CODE = "zh-hans"


def test_the_product_default_language_is_simplified_chinese():
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.LANGUAGE_CODE)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "LANGUAGE_CODE"},
    )  # fmt: skip

    assert result.stdout.strip() == "zh-hans"


def test_the_dashboard_speaks_chinese_by_default(ops_client):
    response = ops_client.get("/")

    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode()
    assert "仪表盘" in response.content.decode()


def test_the_language_switcher_changes_the_language_to_english(ops_client):
    ops_client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    response = ops_client.get("/")

    assert 'lang="en"' in response.content.decode()
    assert "Dashboard" in response.content.decode()
    assert "仪表盘" not in response.content.decode()


def test_the_login_page_can_switch_language_before_login(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})

    assert response.status_code == 302
    assert "Log in" in client.get("/accounts/login/").content.decode()


def test_times_are_shown_in_asia_shanghai_by_default(ops_client, settings):
    assert settings.TIME_ZONE == "Asia/Shanghai"

    response = ops_client.get("/")

    assert "Asia/Shanghai" in response.content.decode()


def test_the_chinese_catalog_has_no_missing_or_fuzzy_translation():
    catalog = (ROOT / "locale/zh_Hans/LC_MESSAGES/django.po").read_text(encoding="utf-8")
    entries = catalog.split("\n\n")[1:]  # the first entry is the header

    untranslated = [e for e in entries if re.search(r'msgstr(\[0\])? ""\s*$', e)]
    fuzzy = [e for e in entries if "#, fuzzy" in e]

    assert untranslated == []
    assert fuzzy == []
