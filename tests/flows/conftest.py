"""Flow fixtures: the campaigns' real SMTP sinks and Celery workers, for the worker tests."""

from tests.campaigns.conftest import campaign_worker, smtp_sink_process  # noqa: F401 (fixtures)
