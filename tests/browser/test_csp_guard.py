"""Every browser test runs under the Content-Security-Policy with zero violations: the `page`
fixture hears each violation and fails the test that caused it (tests/browser/conftest.py)."""

import time

import pytest

pytestmark = pytest.mark.browser

INJECT_INLINE_SCRIPT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.__inlineRan = true";
  document.head.appendChild(script);
}"""


def test_the_page_fixture_hears_a_content_security_policy_violation(page, transactional_db):
    page.goto("/accounts/login/")

    page.evaluate(INJECT_INLINE_SCRIPT)
    deadline = time.monotonic() + 5
    while not page.csp_violations and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    heard, page.csp_violations[:] = list(page.csp_violations), []  # this one was on purpose

    assert page.evaluate("() => window.__inlineRan === undefined")
    assert len(heard) == 1
    assert heard[0].startswith("/accounts/login/: script-src")
