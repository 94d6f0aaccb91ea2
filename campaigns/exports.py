"""The exports of a campaign: its recipients (the send ledger) and its results per variant."""

import re

from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Send
from campaigns.results import campaign_results, clicks_tracked, engagement_tracked
from core.masking import address_masked, contact_visible
from core.roles import ALL_ROLES, CAMPAIGN_MANAGER
from profiles.exports import (
    ExportError,
    ExportKind,
    ExportTable,
    label_of,
    list_table,
    queryset_counter,
    rows_shown,
)

ERROR_NO_CAMPAIGN = _("No campaign has the slug “%(slug)s”.")

RECIPIENT_COLUMNS = (
    ("external_id", _("External ID")),
    ("variant", _("Variant")),
    ("in_test", _("In the test share")),
    ("status", _("Status")),
    ("skip_reason", _("Why skipped")),
    ("address", _("Address")),
    ("attempts", _("Attempts")),
    ("sent_at", _("Sent at")),
    ("error", _("Error")),
)
RECIPIENT_FIELDS = {"external_id": "profile__external_id", "variant": "variant__key"}

RESULT_COLUMNS = (
    ("variant", _("Variant")),
    ("name", _("Name")),
    ("weight", _("Weight")),
    ("assigned", _("Assigned")),
    ("sent", _("Sent")),
    ("delivered", _("Delivered")),
    ("opens", _("Opened")),
    ("clicks", _("Clicked")),
    ("conversions", _("Converted")),
    ("revenue", _("Revenue")),
    ("open_rate", _("Open rate")),
    ("click_rate", _("Click rate")),
    ("conversion_rate", _("Conversion rate")),
)


def _campaign(params: dict) -> Campaign:
    slug = params.get("campaign", "")
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        raise ExportError(ERROR_NO_CAMPAIGN % {"slug": slug})
    return campaign


def _recipient_rows(user, rows):
    """Yield the rows with addresses masked (in errors too) unless ``user`` sees them in full."""
    if contact_visible(user):
        yield from rows
        return
    keys = [key for key, _label in RECIPIENT_COLUMNS]
    at_address, at_error = keys.index("address"), keys.index("error")
    for row in rows:
        address = row[at_address]
        if address:
            masked = address_masked(address)
            row[at_error] = re.sub(re.escape(address), masked, row[at_error], flags=re.IGNORECASE)
            row[at_address] = masked
        yield row


def recipients_table(*, user, params: dict) -> ExportTable:
    """Return the campaign's send ledger, one row per recipient, in the order rows were made."""
    campaign = _campaign(params)
    sends = Send.objects.filter(campaign=campaign).order_by("pk")
    keys = [key for key, _label in RECIPIENT_COLUMNS]
    fields = [RECIPIENT_FIELDS.get(key, key) for key in keys]
    shown = {
        "status": label_of(Send.Status.choices),
        "skip_reason": label_of(Send.SkipReason.choices),
        "in_test": lambda value: _("yes") if value else "",
        "variant": lambda value: value or "",
    }
    rows = rows_shown(sends.values_list(*fields).iterator(chunk_size=5000), keys, shown)
    return ExportTable(
        name=f"campaign-{campaign.slug}-recipients",
        title=str(campaign.name),
        what=f"campaign {campaign.slug} recipients",
        columns=RECIPIENT_COLUMNS,
        rows=_recipient_rows(user, rows),
        counter=queryset_counter(sends),
        source=campaign,
    )


def results_table(*, user, params: dict) -> ExportTable:
    """Return the campaign's results per variant, then the holdout: counts and rates (0 to 1).

    SMS carries no open or click tracking: its open and click rates are left empty.
    """
    campaign = _campaign(params)
    data = campaign_results(campaign=campaign)
    tracked, clicks = engagement_tracked(campaign), clicks_tracked(campaign)
    rows = []
    for row in data["variants"]:
        values = [row["key" if key == "variant" else key] for key, _label in RESULT_COLUMNS[:10]]
        rates = [
            row["open_rate"].rate if tracked else None,
            row["click_rate"].rate if clicks else None,
        ]
        rows.append([*values, *rates, row["conversion_rate"].rate])
    holdout = data["holdout"]
    if holdout["assigned"]:
        rows.append(
            [_("holdout"), "", "", holdout["assigned"], 0, 0, 0, 0, holdout["conversions"],
             holdout["revenue"], None, None, holdout["conversion_rate"].rate]
        )  # fmt: skip
    return list_table(
        name=f"campaign-{campaign.slug}-results",
        title=str(campaign.name),
        what=f"campaign {campaign.slug} results",
        columns=RESULT_COLUMNS,
        rows=rows,
        source=campaign,
    )


EXPORT_KINDS = (
    ExportKind(
        name="campaign-recipients",
        roles=(CAMPAIGN_MANAGER,),
        build=recipients_table,
        params=("campaign",),
    ),
    ExportKind(name="campaign-results", roles=ALL_ROLES, build=results_table, params=("campaign",)),
)
