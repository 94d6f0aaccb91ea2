"""Start a refresh of the predictions from the model page's button, as a job with a page.

A stand-in until ``predictions.services.predictions_refresh_enqueue`` exists on main; the
``predictions.refresh`` job kind's handler is the refresh itself (``predictions.services``).
"""

from core.models import Job
from core.services import job_enqueue

REFRESH_JOB_KIND = "predictions.refresh"


def predictions_refresh_enqueue(*, user) -> Job:
    """Record a refresh job started by ``user`` and queue it once the transaction commits."""
    return job_enqueue(kind=REFRESH_JOB_KIND, payload={}, user=user)
