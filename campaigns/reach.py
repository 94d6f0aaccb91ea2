"""The reachable audience of a campaign before it is sent, counted by the send's own code.

The audience is ``campaign_audience`` (what ``campaign_start`` freezes), the holdout is
``campaign_split`` applied to ``assignment_bucket`` (what decides each ledger row's group), and
every other row passes ``guards.skip_reasons`` (what each claimed batch passes): consent, a
valid address, suppression and the frequency cap, in that order, so a profile stopped by two
guards is counted once, under the first, as the send records it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import CharField, ExpressionWrapper, F, Value
from django.utils import timezone

from campaigns.channels import channel_get
from campaigns.delivery import guards
from campaigns.delivery.ledger import Row
from campaigns.models import Campaign, Send
from campaigns.services.audience import (
    CHUNK_SIZE,
    assignment_bucket,
    campaign_audience,
    campaign_split,
)

GUARDED = (
    Send.SkipReason.NO_CONSENT,
    Send.SkipReason.NO_ADDRESS,
    Send.SkipReason.SUPPRESSED,
    Send.SkipReason.FREQUENCY_CAP,
)


@dataclass
class Reach:
    """How many members a send would reach, and why the others would not be messaged."""

    members: int = 0
    holdout: int = 0
    stopped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GUARDED, 0))

    @property
    def reachable(self) -> int:
        """Return the members that would be sent a message."""
        return self.members - self.holdout - sum(self.stopped.values())

    def steps(self) -> list[tuple[str, str, int]]:
        """Return (key, label, count) for each subtraction, in the send's order."""
        labels = dict(Send.SkipReason.choices)
        return [
            (Send.Status.HOLDOUT.value, str(Send.Status.HOLDOUT.label), self.holdout),
            *((reason.value, str(labels[reason]), self.stopped[reason]) for reason in GUARDED),
        ]


def campaign_reach(*, campaign: Campaign, now: datetime.datetime | None = None) -> Reach:
    """Return the campaign's reachable audience if it started and sent at ``now``.

    One pass over the audience in chunks of CHUNK_SIZE profiles, each through the same guards a
    batch of the send passes (one query per guard). A campaign without a variant yet has no
    split: its holdout is counted as none.
    """
    now = now or timezone.now()
    try:
        split = campaign_split(campaign=campaign)
    except ValueError:
        split = None
    spec = channel_get(campaign.channel)
    contact = (
        ExpressionWrapper(F(spec.address_field), output_field=CharField())
        if spec.address_field
        else Value("")
    )
    audience = (
        campaign_audience(campaign=campaign)
        .order_by("pk")
        .annotate(contact=contact)
        .values_list("pk", "contact")
    )
    reach, after = Reach(), 0
    while True:
        chunk = list(audience.filter(pk__gt=after)[:CHUNK_SIZE])
        if not chunk:
            return reach
        if not spec.address_field:  # contacts kept outside the profile (e.g. device tokens)
            contacts = spec.addresses([pk for pk, _contact in chunk])
            chunk = [(pk, contacts.get(pk)) for pk, _contact in chunk]
        after = chunk[-1][0]
        reach.members += len(chunk)
        rows = []
        for profile_id, address in chunk:
            bucket = assignment_bucket(campaign_id=campaign.pk, profile_id=profile_id)
            if split is not None and split.assign(bucket)[0] == Send.Status.HOLDOUT:
                reach.holdout += 1
            else:  # keyed by the profile: one row per profile, as in the ledger
                rows.append(Row(profile_id, campaign.pk, profile_id, None, 0, {}, address))
        for reason in guards.skip_reasons(campaign, rows, now).values():
            reach.stopped[reason] += 1
