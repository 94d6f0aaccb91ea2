"""A real Chromium driven by Playwright, for browser tests."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: missing there is a defect, not a skip
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM must still work here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# Reports every Content-Security-Policy violation of a document (and of its frames) to the test.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation(`${location.pathname}: ${event.effectiveDirective} blocked `
    + `${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
    + `:${event.columnNumber} [${event.sample}]`);
});
"""


@pytest.fixture
def page(browser, live_server):
    """A page of a fresh browser context; every browser test runs under the site's
    Content-Security-Policy and fails (at teardown) on any violation it did not clear."""
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    page.console_errors = []
    page.csp_violations = []
    context.expose_binding("__cspViolation", lambda _source, text: page.csp_violations.append(text))
    context.add_init_script(CSP_LISTENER)
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()
    assert page.csp_violations == [], "Content-Security-Policy violations:\n" + "\n".join(
        page.csp_violations
    )


def totp_now(user) -> str:
    """Return the current code of the user's TOTP device (the one being enrolled, if any)."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user).order_by("confirmed", "pk").first()
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{value:0{device.digits}d}"


def log_in(page, user, password: str) -> None:
    """Log in through the login page, and the two-step page when the user's role has one."""
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    if "/accounts/two-step/" in page.url:
        page.fill("#id_token", totp_now(user))
        page.click("button[type=submit].primary")
        page.wait_for_url(lambda url: "/accounts/two-step/" not in url)
