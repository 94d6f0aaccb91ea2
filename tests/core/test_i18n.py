"""The UI speaks Simplified Chinese and English, and times are shown in the configured zone."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
# What makemessages reads: the apps, the templates and the catalogue (not tests, docs, static).
SOURCES = (
    "campaigns", "config", "core", "flows", "journeys", "predictions", "profiles", "segments",
    "tools", "templates", "locale", "manage.py",
)  # fmt: skip
CATALOGUE = "locale/zh_Hans/LC_MESSAGES/django.po"


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


def catalogue_problems(root: Path, copy: Path) -> dict[str, list[str]]:
    """Return the msgids makemessages would leave obsolete, untranslated or fuzzy.

    It runs on a copy of ``root`` in ``copy``, so the repository's catalogue is never touched.
    """
    for name in SOURCES:
        if (root / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.mo")
            shutil.copytree(root / name, copy / name, ignore=ignore)
        else:
            shutil.copy2(root / name, copy / name)
    made = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--verbosity", "0"],
        cwd=copy, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    entries = (copy / CATALOGUE).read_text(encoding="utf-8").split("\n\n")[1:]
    msgid = re.compile(r'^(?:#~ )?msgid "(.*)"$', re.MULTILINE)

    def ids(chosen):
        return [" ".join(msgid.findall(entry)) or entry for entry in chosen]

    live = [e for e in entries if not e.lstrip().startswith("#~")]
    return {
        "obsolete": ids(e for e in entries if e.lstrip().startswith("#~")),
        "untranslated": ids(e for e in live if re.search(r'msgstr(\[0\])? ""\s*$', e)),
        "fuzzy": ids(e for e in live if "#, fuzzy" in e),
    }


def test_the_chinese_catalogue_holds_every_extracted_msgid_translated_and_nothing_else(tmp_path):
    problems = catalogue_problems(ROOT, tmp_path)

    assert problems == {"obsolete": [], "untranslated": [], "fuzzy": []}


def test_the_catalogue_check_catches_a_msgid_never_extracted_or_never_translated(tmp_path):
    given = tmp_path / "given"
    given.mkdir()
    for name in SOURCES:
        source = ROOT / name
        (given / name).symlink_to(source, target_is_directory=source.is_dir())
    (given / "locale").unlink()
    shutil.copytree(ROOT / "locale", given / "locale")
    with (given / CATALOGUE).open("a", encoding="utf-8") as catalogue:
        catalogue.write('\nmsgid "A text no code marks for translation"\nmsgstr "无人标记的文字"\n')
    (given / "core").unlink()
    shutil.copytree(ROOT / "core", given / "core", ignore=shutil.ignore_patterns("__pycache__"))
    (given / "core/planted.py").write_text(
        'from django.utils.translation import gettext_noop\n\nX = gettext_noop("A new text")\n'
    )

    problems = catalogue_problems(given, tmp_path / "copy")

    assert problems["obsolete"] == ["A text no code marks for translation"]
    assert problems["untranslated"] + problems["fuzzy"] == ["A new text"]  # fuzzy: a guess


def _bare_texts(tree) -> set[str]:
    """Return the module-level names bound to a bare string literal (not marked for translation)."""
    return {
        node.targets[0].id
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


TRANSLATING = {"_", "gettext", "gettext_lazy", "_lazy", "ngettext", "pgettext", "pgettext_lazy"}


def _translated_name(node) -> str | None:
    """Return the name a translating call is given as its text, if it is given a name."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    if node.func.id not in TRANSLATING or not node.args:
        return None
    text = node.args[-1] if node.func.id.startswith("p") else node.args[0]
    return text.id if isinstance(text, ast.Name) else None


def translated_bare_texts(root: Path) -> list[str]:
    """Return where a constant defined as a bare string is translated at use.

    ``makemessages`` never extracts such a text, so it shows untranslated whatever the catalogue.
    """
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8"))
        for name in SOURCES
        if (root / name).is_dir()
        for path in sorted((root / name).rglob("*.py"))
    }
    bare = set().union(*(_bare_texts(tree) for tree in trees.values()))
    return [
        f"{path.relative_to(root)}:{node.lineno} {_translated_name(node)}"
        for path, tree in trees.items()
        for node in ast.walk(tree)
        if _translated_name(node) in bare
    ]


def test_no_text_is_translated_at_use_without_being_marked_where_it_is_defined():
    assert translated_bare_texts(ROOT) == []
