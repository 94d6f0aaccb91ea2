"""Prepare a local demo: seed an empty database and make sure demo logins exist."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from core import roles
from flows.models import Flow
from flows.services import flow_create, flow_go_live
from predictions.services import predictions_refresh
from profiles.models import Profile
from segments.models import Segment
from segments.services import segment_evaluate

DEMO_USERS = [
    ("admin", None),
    ("ops", roles.OPS),
    ("campaigns", roles.CAMPAIGN_MANAGER),
    ("consent", roles.CONSENT_ADMIN),
]


# A few segments to start from, so campaigns have an audience to pick.
DEMO_SEGMENTS = [
    ("上海用户", "shanghai", {"attr": "city", "op": "eq", "value": "上海"}),
    ("高价值客户", "high-value", {"attr": "value_tier", "op": "eq", "value": "high"}),
    ("近 90 天复购", "repeat-buyers-90d",
     {"event": "purchase", "within_days": 90, "count": {"gte": 2}}),
    ("流失风险高的高价值客户", "at-risk-high-value",
     {"all": [{"attr": "churn_risk", "op": "gte", "value": 0.6},
              {"attr": "clv_365d", "op": "gte", "value": 500}]}),
]  # fmt: skip

CART_TEXT = "{{ name }}，您的购物车里还有商品，今天下单享包邮。"
# A live flow to start from: a cart left for two hours gets a reminder by SMS.
DEMO_FLOW = {
    "trigger": {"type": "event", "event": "add_to_cart"},
    "reentry": {"policy": "after_days", "days": 7},
    "exit": [{"consent_withdrawn": "sms"}],
    "goal": {"event": "purchase", "within_days": 7},
    "steps": [
        {
            "key": "wait-1",
            "kind": "wait",
            "until_event": {"event": "purchase"},
            "timeout": {"hours": 2},
            "paths": {
                "event": [{"key": "exit-1", "kind": "exit"}],
                "timeout": [
                    {"key": "send-1", "kind": "send", "channel": "sms", "name": "购物车提醒",
                     "variants": [{"key": "A", "weight": 100, "body_text": CART_TEXT}]},
                ],
            },
        }
    ],
}  # fmt: skip


class Command(BaseCommand):
    help = "Seed demo data when the database is empty and print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=2000)
        parser.add_argument("--events", type=int, default=30000)

    def handle(self, *args, profiles, events, **options):
        if Profile.objects.exists():
            self.stdout.write("The database already holds profiles; no demo data added.")
        else:
            call_command("seed_demo", profiles=profiles, events=events, stdout=self.stdout)
            run = predictions_refresh()
            self.stdout.write(f"predictions: {run.get_status_display()}, {run.scored} scored")
            self._segments()
            self._flow()
        credentials = self._credentials()
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("WEB_PORT", "8000")
        self.stdout.write(self.style.SUCCESS(f"Log in at http://{host}:{port}/ with:"))
        for username, password in credentials.items():
            self.stdout.write(f"  {username:<10} {password}")

    def _segments(self) -> None:
        """Create and evaluate the demo segments (only next to freshly seeded data)."""
        for name, slug, rule in DEMO_SEGMENTS:
            segment, created = Segment.objects.get_or_create(
                slug=slug, defaults={"name": name, "rule": rule, "refresh_minutes": 60}
            )
            if created:
                run = segment_evaluate(segment_id=segment.pk)
                self.stdout.write(f"segment {slug}: {run.size if run else '?'} members")

    def _flow(self) -> None:
        """Create the demo flow and take it live (only next to freshly seeded data)."""
        if not Flow.objects.filter(slug="cart-reminder").exists():
            flow = flow_create(name="购物车挽回", slug="cart-reminder", definition=DEMO_FLOW)
            flow_go_live(flow=flow)
            self.stdout.write("flow cart-reminder: live")

    def _credentials(self) -> dict[str, str]:
        """Return each demo user's password, creating users (and a kept password) once."""
        path = settings.VAR_DIR / "demo-credentials.txt"
        saved = {}
        if path.exists():
            for line in path.read_text().splitlines():
                username, _, password = line.partition(" ")
                saved[username] = password
        user_model = get_user_model()
        for username, role in DEMO_USERS:
            user = user_model.objects.filter(username=username).first()
            if user and username in saved:
                continue
            password = secrets.token_urlsafe(9)
            if user is None:
                user = user_model(username=username, email=f"{username}@example.com")
            user.is_superuser = user.is_staff = role is None
            user.set_password(password)
            user.save()
            if role:
                user.groups.add(Group.objects.get(name=role))
            saved[username] = password
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{u} {p}\n" for u, p in saved.items()))
        path.chmod(0o600)
        return saved
