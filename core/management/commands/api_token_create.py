"""Make an API token for a user and print its key (shown this once; only its digest is kept)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.tokens import api_token_create


class Command(BaseCommand):
    help = "Make an API token for USERNAME and print its key (it cannot be shown again)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")
        parser.add_argument("--days", type=int, default=None, help="valid for (API_TOKEN_DAYS)")

    def handle(self, *args, username, name, days, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        token, key = api_token_create(user=user, name=name, days=days)
        self.stdout.write(f"Token {token.prefix}… for {user} expires {token.expires_at:%Y-%m-%d}:")
        self.stdout.write(key)
