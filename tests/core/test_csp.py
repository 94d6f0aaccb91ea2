"""Every page carries the Content-Security-Policy; the self-contained consent pages allow their
own <style> by hash (no nonce, so every unusable link still gets the very same bytes)."""

import base64
import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from profiles.services.consent_links import consent_token_make
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict([*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip())


def test_back_office_pages_allow_no_inline_script_and_no_framing(ops_client):
    policy = directives(ops_client.get("/profiles/"))

    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy["style-src"]


def test_a_consent_page_allows_exactly_its_own_style_block():
    profile = ProfileFactory()
    url = reverse(
        "consent_public:preferences",
        args=[consent_token_make(profile_id=profile.pk, channel="email")],
    )

    response = Client().get(url)

    (block,) = re.findall(rb"<style>(.*?)</style>", response.content, re.S)
    digest = base64.b64encode(hashlib.sha256(block).digest()).decode()
    assert f"'sha256-{digest}'" in directives(response)["style-src"].split()
