"""Screenshots of the main screens, in Chinese and English, for the README: `make screens`.

A fresh state folder (SQLite, file broker, tasks run in the web process) gets the demo data,
a campaign is sent to a demo segment so its results have numbers, the development server starts
on a free loopback port, and Debian's Chromium (driven by Playwright) logs in as the demo's ops
user and saves each screen at 1,440 x 900 into docs/screens/<language>-<screen>.png.

Chinese text needs a CJK font in the system (Debian: fonts-noto-cjk); without one the command
stops rather than save pages of empty boxes.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
OUT = ROOT / "docs" / "screens"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
LANGUAGES = {"zh-hans": "zh-CN", "en": "en-US"}
# (name, path, what to wait for): the screens a new user meets first.
SCREENS = [
    ("dashboard", "/", ".js-plotly-plot"),
    ("profiles", "/profiles/", "table"),
    ("profile", "/profiles/U00000001/", "h1"),
    ("segment-builder", "/segments/new/", "form"),
    ("segment", "/segments/shanghai/", "h1"),
    ("segment-portrait", "/segments/shanghai/portrait/", ".js-plotly-plot"),
    ("segment-overlap", "/segments/shanghai/overlap/?with=high-value", ".js-plotly-plot"),
    ("campaign-results", "/campaigns/demo-spring/results/", ".js-plotly-plot"),
    ("flow", "/flows/cart-reminder/", "h1"),
    ("predictions", "/predictions/", "h1"),
    ("clusters", "/predictions/clusters/", "h1"),
    ("funnel", "/journeys/funnel/", "h1"),
]
# Sends the demo campaign in the web's own process (tasks run eagerly in this state folder).
CAMPAIGN = """
import random
from django.utils import timezone
from campaigns.models import Campaign, Send, TrackingEvent, Variant
from campaigns.services.audience import campaign_start
from campaigns.tasks import campaign_send_task
from campaigns.tracking import tracking_record
from segments.models import Segment
campaign, created = Campaign.objects.get_or_create(
    slug="demo-spring", defaults={"name": "春季焕新", "channel": "email",
    "from_email": "ops@example.com", "holdout_percent": 10,
    "status": Campaign.Status.SCHEDULED, "send_at": timezone.now()})
if created:
    campaign.include_segments.add(Segment.objects.get(slug="shanghai"))
    for key in "AB":
        Variant.objects.create(campaign=campaign, key=key, weight=50,
            subject=f"{{{{ name }}}}，春季新品 {key}", body_text="春季新品上市，点击查看。")
    campaign_start(campaign_id=campaign.pk, now=timezone.now())
    campaign_send_task(campaign.pk)
    chance = random.Random(7)
    sent = Send.objects.filter(campaign=campaign, status=Send.Status.SENT)
    for send in sent.select_related("variant"):
        if chance.random() < (0.45 if send.variant.key == "A" else 0.3):
            tracking_record(send_id=send.pk, kind=TrackingEvent.Kind.OPEN)
            if chance.random() < 0.3:
                tracking_record(send_id=send.pk, kind=TrackingEvent.Kind.CLICK)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(text: str) -> None:
    print(f"[screens] {text}", flush=True)


def has_cjk_font() -> bool:
    """Return whether fontconfig knows a font with Chinese glyphs."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    found = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True, check=False)  # noqa: S603
    return bool(found.stdout.strip())


def prepare(env: dict) -> None:
    """Migrate a fresh state folder, seed the demo and send its campaign."""
    for command in (["migrate", "--noinput"], ["demo_setup", "--profiles", "1000"]):
        manage(env, *command, stdout=subprocess.DEVNULL)
    manage(env, "shell", "-c", CAMPAIGN)


def manage(env: dict, *arguments: str, **options) -> None:
    """Run one of the project's management commands in the state folder's environment."""
    subprocess.run([PYTHON, "manage.py", *arguments], cwd=ROOT, env=env, check=True, **options)  # noqa: S603 (our own manage.py)


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"the server at {url} did not answer within {timeout:.0f}s")


def shoot(base_url: str, username: str, password: str) -> list[Path]:
    """Log in and save every screen in both languages; return the files written."""
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for language, locale in LANGUAGES.items():
            context = browser.new_context(
                base_url=base_url, locale=locale, viewport={"width": 1440, "height": 900}
            )
            context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", password)
            page.click("button[type=submit].primary")
            page.wait_for_url(lambda url: "/accounts/login/" not in url)
            for name, path, ready in SCREENS:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                page.wait_for_selector(ready, state="attached", timeout=15000)
                target = OUT / f"{language}-{name}.png"
                page.screenshot(path=str(target))
                written.append(target)
                say(f"{target.relative_to(ROOT)}")
            context.close()
        browser.close()
    return written


def main() -> None:
    if not os.path.exists(CHROMIUM):
        sys.exit(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    if not has_cjk_font():
        sys.exit("no font with Chinese glyphs: apt-get install fonts-noto-cjk")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screens-") as var_dir:
        port = free_port()
        env = {
            k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}
        }
        env.update(
            VAR_DIR=var_dir,
            WEB_PORT=str(port),
            CELERY_TASK_ALWAYS_EAGER="true",
            CAMPAIGN_QUIET_HOURS="",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        )
        say("seeding the demo in a fresh state folder …")
        prepare(env)
        lines = Path(var_dir, "demo-credentials.txt").read_text().splitlines()
        credentials = dict(line.split(" ", 1) for line in lines if line)
        server = subprocess.Popen(  # noqa: S603 (our own manage.py)
            [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_for(f"{base_url}/accounts/login/")
            written = shoot(base_url, "ops", credentials["ops"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    say(f"{len(written)} screenshots in {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
