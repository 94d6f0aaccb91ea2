"""API tokens kept as digests; the plaintext tokens of DRF's authtoken app move over, then go."""

import datetime
import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

PLAINTEXT_TABLE = "authtoken_token"  # DRF's authtoken app, no longer installed


def plaintext_tokens_move(apps, schema_editor):
    """Keep each DRF token's key working as a digest (expiring in API_TOKEN_DAYS), then delete it."""
    connection = schema_editor.connection
    if PLAINTEXT_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("core", "ApiToken")
    now = timezone.now()
    expires = now + datetime.timedelta(days=settings.API_TOKEN_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {PLAINTEXT_TABLE}")
        rows = cursor.fetchall()
        ApiToken.objects.bulk_create(
            ApiToken(
                user_id=user_id, name="authtoken", prefix=key[:8], created_at=now,
                digest=hashlib.sha256(key.encode()).hexdigest(), expires_at=expires,
            )
            for key, user_id in rows
        )  # fmt: skip
        cursor.execute(f"DELETE FROM {PLAINTEXT_TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(blank=True, max_length=100, verbose_name="name")),
                ("prefix", models.CharField(max_length=8, verbose_name="first characters")),
                ("digest", models.CharField(max_length=64, unique=True, verbose_name="digest")),
                ("created_at", models.DateTimeField(verbose_name="created at")),
                ("expires_at", models.DateTimeField(verbose_name="expires at")),
                (
                    "last_used_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="last used at"),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "verbose_name_plural": "API tokens",
            },
        ),
        migrations.RunPython(plaintext_tokens_move, migrations.RunPython.noop),
    ]
