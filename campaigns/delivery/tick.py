"""The beat's tick: start due campaigns, stage triggers, queue send tasks, finish the done."""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.delivery.ledger import campaign_finish_if_done, claimable
from campaigns.models import Campaign
from campaigns.services.audience import campaign_start, campaign_triggers_process, campaigns_due

logger = logging.getLogger(__name__)


def campaigns_tick(*, now: datetime.datetime | None = None) -> dict[str, list[int]]:
    """Start due campaigns, turn triggers into ledger rows, queue send tasks, finish the done.

    Run by beat every few seconds; scheduled campaigns are started here by compare-and-set,
    never by long Celery ETAs. Each sending campaign with due rows gets CAMPAIGN_WORKERS
    ``campaign_send_task`` messages (so that many workers can send it at once), queued once
    this transaction commits.
    """
    from campaigns.tasks import campaign_send_task  # the tasks import this package

    now = now or timezone.now()
    started, queued, finished = [], [], []
    for campaign_id in campaigns_due(now=now):
        try:
            if campaign_start(campaign_id=campaign_id, now=now):
                started.append(campaign_id)
        except Exception:  # one broken campaign must not stop the others
            logger.exception("Campaign %s could not start", campaign_id)
    sending = Campaign.objects.filter(status=Campaign.Status.SENDING)
    triggered = sending.filter(kind=Campaign.Kind.TRIGGERED, trigger_segment__isnull=False)
    for campaign_id in triggered.values_list("pk", flat=True):  # stage triggers: journeys
        try:
            campaign_triggers_process(campaign_id=campaign_id)
        except Exception:
            logger.exception("Campaign %s could not process its triggers", campaign_id)
    for campaign_id in sending.values_list("pk", flat=True):
        if claimable(campaign_id, now).exists():
            for _worker in range(settings.CAMPAIGN_WORKERS):
                transaction.on_commit(lambda pk=campaign_id: campaign_send_task.delay(pk))
            queued.append(campaign_id)
        elif campaign_finish_if_done(campaign_id=campaign_id, now=now):
            finished.append(campaign_id)
    return {"started": started, "queued": queued, "finished": finished}
