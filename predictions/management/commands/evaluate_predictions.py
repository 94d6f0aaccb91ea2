"""Backtest the purchase models: train before a cut-off, compare with the 90 days after it."""

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from predictions.models import PredictionRun
from predictions.services import HORIZON_DAYS, predictions_backtest, run_figures

ERROR_DATE = "The day must be a date as YYYY-MM-DD, not {value!r}."


def day_start(value: str) -> dt.datetime:
    """Return the start of day ``value`` (YYYY-MM-DD) in the time zone, or a CommandError."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(ERROR_DATE.format(value=value)) from None
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


class Command(BaseCommand):
    help = (
        f"Train only on events before --cutoff and compare the scores with what happened in the "
        f"{HORIZON_DAYS} days after it (AUC of each model and of recency alone, calibration, "
        f"lift). Ends with one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cutoff", required=True, help="the cut-off day, YYYY-MM-DD")

    def handle(self, *args, cutoff, **options):
        run = predictions_backtest(cutoff=day_start(cutoff))
        figures = run_figures(run)
        models = run.report.get("models", {})
        self.stdout.write(f"cut-off {run.cutoff:%Y-%m-%d}, outcome until {run.as_of:%Y-%m-%d}")
        for name, sized in run.report.get("sizes", {}).items():
            self.stdout.write(f"{name:<12} {sized}")
        self.stdout.write(f"{'model':<12} {'AUC':>8} {'lift@10%':>9}")
        for name, found in models.items():
            auc, lift = found.get("auc"), found.get("lift_top_decile")
            self.stdout.write(
                f"{name:<12} {'—' if auc is None else f'{auc:.4f}':>8} "
                f"{'—' if lift is None else f'{lift:.2f}':>9}"
            )
        if run.chosen:
            self.stdout.write(f"chosen: {run.get_chosen_display()}")
        self.stdout.write(json.dumps(figures, ensure_ascii=False))
        if run.status == PredictionRun.Status.FAILED:
            raise CommandError(run.message)
