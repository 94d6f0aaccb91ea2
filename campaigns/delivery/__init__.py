"""Campaign delivery: from a ledger row queued to a message sent, one concept per module.

- ``send``: ``campaign_send`` (what the Celery task of the same name runs) and
  ``campaign_send_batch``, the loop tying the others together;
- ``ledger``: claim batches, record sent/failed/skipped, release, sweep, finish; the crash
  rule (``BatchLedger``: a killed worker resends at most CAMPAIGN_MARK_EVERY messages);
- ``guards``: consent, address, suppression, frequency cap, quiet hours;
- ``pacing``: the per-channel rate limit shared by all workers (Redis or the database);
- ``render``: templates, consent links, headers, tracking;
- ``transports``: Django email backends (SMTP spoken directly, with PIPELINING), SMS backends;
- ``tick``: the beat's tick that starts campaigns and queues send tasks.

Database-specific SQL lives in ``campaigns.sql``.
"""

from campaigns.delivery.guards import quiet_hours, quiet_hours_end, suppressions_of
from campaigns.delivery.ledger import (
    BatchResult,
    campaign_finish_if_done,
    campaign_sends_sweep,
    sends_claim,
)
from campaigns.delivery.pacing import Pacer, channel_pacer
from campaigns.delivery.render import message_id_make
from campaigns.delivery.send import campaign_send, campaign_send_batch
from campaigns.delivery.tick import campaigns_tick

__all__ = [
    "BatchResult",
    "Pacer",
    "campaign_finish_if_done",
    "campaign_send",
    "campaign_send_batch",
    "campaign_sends_sweep",
    "campaigns_tick",
    "channel_pacer",
    "message_id_make",
    "quiet_hours",
    "quiet_hours_end",
    "sends_claim",
    "suppressions_of",
]
