"""The top bar marks exactly one section as current, the right one, on every kind of page."""

import re

import pytest

from tests.factories import ProfileFactory, TagFactory

pytestmark = pytest.mark.django_db

CURRENT = re.compile(r'<a href="([^"]+)" aria-current="page">')


@pytest.mark.parametrize(
    ("path", "section"),
    [
        ("/", "/"),
        ("/profiles/", "/profiles/"),
        ("/profiles/p-1/", "/profiles/"),
        ("/profiles/tags/", "/profiles/tags/"),
        ("/profiles/tags/bulk/", "/profiles/tags/"),
        ("/profiles/consent/", "/profiles/consent/"),
        ("/profiles/consent/audit/", "/profiles/consent/"),
        ("/profiles/consent/import/", "/profiles/consent/"),
        ("/segments/", "/segments/"),
    ],
)
def test_exactly_one_section_is_current(admin_client, path, section):
    ProfileFactory(external_id="p-1")
    TagFactory(slug="vip")

    response = admin_client.get(path)

    assert response.status_code == 200, path
    assert CURRENT.findall(response.content.decode()) == [section]
