"""Webhook endpoints: create, edit, disable, rotate their secret, and keep their log bounded."""

import datetime
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from campaigns.models import WebhookDelivery, WebhookEndpoint
from profiles.services.retention import rows_delete_in_chunks

EDITABLE_FIELDS = ("name", "url", "consent_channel", "timeout_seconds", "active")
RESERVED_SLUGS = ("new",)  # /campaigns/webhooks/new/ is a page


def webhook_secret_make() -> str:
    """Return a new signing secret (256 random bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:80] or "endpoint"
    taken = set(
        WebhookEndpoint.objects.filter(slug__startswith=base).values_list("slug", flat=True)
    )
    taken.update(RESERVED_SLUGS)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def webhook_endpoint_create(
    *,
    name: str,
    url: str,
    consent_channel: str,
    timeout_seconds: int = 5,
    created_by=None,
) -> WebhookEndpoint:
    """Create an active endpoint with a new secret and a slug made from its name."""
    endpoint = WebhookEndpoint(
        name=name,
        slug=_unique_slug(name),
        url=url,
        consent_channel=consent_channel,
        timeout_seconds=timeout_seconds,
        secret=webhook_secret_make(),
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change the endpoint's name, URL, consent channel, timeout or active flag."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.full_clean()
    endpoint.save(update_fields=[*changes, "updated_at"])
    return endpoint


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Stop posting to the endpoint: its campaigns' rows and flow steps fail with the reason."""
    return webhook_endpoint_update(endpoint=endpoint, active=False)


def webhook_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Give the endpoint a new signing secret (the old one stops at once)."""
    endpoint.secret = webhook_secret_make()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def webhook_deliveries_purge(*, now: datetime.datetime | None = None) -> int:
    """Delete log rows older than WEBHOOK_LOG_DAYS; return how many."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.WEBHOOK_LOG_DAYS)
    return webhook_deliveries_purge_before(cutoff)


def webhook_deliveries_purge_before(cutoff: datetime.datetime) -> int:
    """Delete log rows made before ``cutoff`` (also the personal-data retention's purger)."""
    return rows_delete_in_chunks(WebhookDelivery.objects.filter(created_at__lt=cutoff))
