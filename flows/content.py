"""The content of a send step: checked with the campaigns' sandboxed templates, and carried by a
campaign of kind ``flow`` per version, so delivery, guards and results are the campaigns' own."""

from collections.abc import Iterator, Mapping

from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Variant
from campaigns.services.channel_content import variant_errors
from campaigns.services.sender import from_email_check

ERROR_VARIANT = _("Give each variant a key (A, B …) and a weight of 1 or more.")


def _variant_errors(config: Mapping, variant: dict, place: str, *, complete: bool):
    errors = variant_errors(channel=config["channel"], values=variant, complete=complete)
    for field, message in errors.items():
        yield f"{place}.{field}", str(message)


def send_errors(config: Mapping, *, complete: bool) -> Iterator[tuple[str, str]]:
    """Yield (place, message) for every problem of a send step's sender and variants."""
    sender_error = from_email_check(config.get("from_email"))
    if sender_error:
        yield "from_email", sender_error
    keys = set()
    for index, variant in enumerate(config.get("variants") or []):
        place = f"variants[{index}]"
        if not isinstance(variant, dict):
            yield place, ERROR_VARIANT
            continue
        key, weight = variant.get("key"), variant.get("weight", 100)
        if not isinstance(key, str) or not key or key in keys or len(key) > 10:
            yield f"{place}.key", ERROR_VARIANT
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            yield f"{place}.weight", ERROR_VARIANT
        keys.add(key)
        yield from _variant_errors(config, variant, place, complete=complete)


def campaign_content_errors(campaign: Campaign) -> list[str]:
    """Return what no longer validates in a step campaign's variants (empty: all is well)."""
    errors = []
    for variant in campaign.variants.all():
        values = {
            "subject": variant.subject,
            "body_text": variant.body_text,
            "body_html": variant.body_html,
            "fields": variant.fields,
        }
        # checked when it went live; this runs for every batch
        problems = variant_errors(channel=campaign.channel, values=values, check_traits=False)
        errors += [f"{variant.key}.{field}: {message}" for field, message in problems.items()]
    return errors


def step_campaign_create(*, flow, version, step) -> Campaign:
    """Create the campaign that carries ``step``'s content in ``version`` (sending while live)."""
    config = step.config
    campaign = Campaign.objects.create(
        name=f"{flow.name} · v{version.number} · {config.get('name') or step.key}"[:200],
        slug=f"flow-{flow.pk}-v{version.number}-{step.key}"[:100],
        channel=config["channel"],
        purpose=config.get("purpose") or "marketing",
        kind=Campaign.Kind.FLOW,
        status=Campaign.Status.SENDING
        if flow.status == flow.Status.LIVE
        else Campaign.Status.PAUSED,
        from_email=config.get("from_email") or "",
        created_by=version.created_by,
    )
    Variant.objects.bulk_create(
        Variant(
            campaign=campaign,
            key=variant["key"],
            name=variant.get("name", ""),
            weight=variant.get("weight", 100),
            subject=variant.get("subject", ""),
            body_text=variant.get("body_text", ""),
            body_html=variant.get("body_html", ""),
            fields=variant.get("fields") or {},
        )
        for variant in config["variants"]
    )
    return campaign
