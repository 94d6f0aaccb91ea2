"""Celery tasks of the campaigns app: each calls the service of its name (without ``_task``)."""

from celery import shared_task

from campaigns.delivery import campaign_send, campaign_sends_sweep, campaigns_tick


@shared_task(name="campaigns.tasks.campaigns_tick_task")
def campaigns_tick_task() -> None:
    """Start due campaigns, process triggers and queue send tasks (run by beat)."""
    campaigns_tick()


@shared_task(name="campaigns.tasks.campaign_send_task")
def campaign_send_task(campaign_id: int) -> None:
    """Send batches of one campaign until none is due or the time budget is spent."""
    campaign_send(campaign_id=campaign_id)


@shared_task(name="campaigns.tasks.campaign_sends_sweep_task")
def campaign_sends_sweep_task() -> None:
    """Re-queue ledger rows whose worker died mid-batch (run by beat)."""
    campaign_sends_sweep()


@shared_task(name="campaigns.tasks.campaign_winners_pick_task")
def campaign_winners_pick_task() -> None:
    """Pick the winners of test-then-winner campaigns whose test window is over (run by beat)."""
    from campaigns.winner import campaigns_winners_pick

    campaigns_winners_pick()


@shared_task(name="campaigns.tasks.webhook_deliveries_purge_task")
def webhook_deliveries_purge_task() -> int:
    """Delete webhook delivery log rows older than WEBHOOK_LOG_DAYS (run by beat)."""
    from campaigns.services.webhooks import webhook_deliveries_purge

    return webhook_deliveries_purge()
