"""A test message on a channel with content parts (WeChat, push …), to a typed address.

The campaign's own channel renders the variant's parts for a chosen profile (or sample values)
and sends the one message through a transport of its own, outside the ledger, as email and SMS
tests do (``workflow.campaign_test_send``).
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.channels import ChannelSpec
from campaigns.delivery.ledger import Row
from campaigns.models import Campaign, Variant
from campaigns.services.channel_content import fields_check, fields_compile
from campaigns.services.content import (
    LINK_FIELDS,
    ContentError,
    consent_links,
    profile_context,
    sample_context,
)
from campaigns.services.traits import trait_samples
from campaigns.variables import variables_load
from core.errors import coded

ERROR_BAD_ADDRESS = coded("test_send.bad_address", gettext_noop("This is not a valid {label}."))
ERROR_TEST_FAILED = coded(
    "campaign.test_failed", gettext_noop("The test message could not be sent: {error}")
)


def _context(campaign: Campaign, compiled, profile) -> dict:
    if profile is None:
        return sample_context(trait_samples(compiled.trait_keys))
    context = profile_context(profile)
    context.update(variables_load(compiled.variables, [profile.pk])[profile.pk])
    if compiled.uses_links:
        context.update(consent_links(campaign=campaign, profile_id=profile.pk))
    else:
        context.update(dict.fromkeys(LINK_FIELDS, ""))
    return context


def parted_test_send(
    *, campaign: Campaign, spec: ChannelSpec, variant: Variant, to: str, profile=None
) -> dict:
    """Render ``variant`` and send it to ``to``; return the rendered parts; raise
    ValidationError naming the problem (a bad address, a part, the provider's answer)."""
    address = spec.address((to or "").strip())
    if not address:
        message = _(ERROR_BAD_ADDRESS).format(label=str(spec.address_label).lower())
        raise ValidationError({"to": [message]})
    errors = fields_check(spec, variant.fields, check_traits=False)
    if errors:
        raise ValidationError(errors)
    try:
        compiled = fields_compile(spec, variant.fields)
        rendered = compiled.render(_context(campaign, compiled, profile))
    except ContentError as exc:
        raise ValidationError(exc.errors) from exc
    row = Row(0, campaign.pk, getattr(profile, "pk", None), variant, 0, {}, address)
    row.address = address
    transport = spec.transport()
    try:
        transport.open()
        (outcome,) = transport.send([spec.message(row, rendered)], lambda: None)
    except Exception as exc:  # the provider could not be reached or configured: say why
        raise ValidationError(_(ERROR_TEST_FAILED).format(error=exc)) from exc
    finally:
        transport.close()
    if outcome.error:
        raise ValidationError(_(ERROR_TEST_FAILED).format(error=outcome.error))
    return rendered
