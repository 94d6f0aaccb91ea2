"""Refresh every customer's predictions now and print the figures, ending with a JSON line."""

import json

from django.core.management.base import BaseCommand, CommandError

from predictions.management.commands.evaluate_predictions import day_start
from predictions.models import PredictionRun
from predictions.services import predictions_refresh, run_figures


class Command(BaseCommand):
    help = (
        "Score every profile with a purchase (and profiling allowed): purchase models, "
        "clusters, association rules and recommendations. Ends with one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            default=None,
            help="score as of the start of this day, YYYY-MM-DD (default: now)",
        )

    def handle(self, *args, as_of=None, **options):
        def progress(done, total, message="", force=False):
            if message and done < total:
                self.stderr.write(f"[{done}/{total}] {message}…")

        run = predictions_refresh(now=day_start(as_of) if as_of else None, report=progress)
        figures = run_figures(run)
        for phase in figures["phases"]:
            self.stdout.write(f"{phase['name']:<10} {phase['seconds']:>9.2f} s")
        for name, auc in figures["auc"].items():
            shown = "—" if auc is None else f"{auc:.4f}"
            self.stdout.write(f"AUC {name:<11} {shown}")
        self.stdout.write(f"status: {run.get_status_display()}  scored: {run.scored}")
        if run.message:
            self.stdout.write(run.message)
        self.stdout.write(json.dumps(figures, ensure_ascii=False))
        if run.status == PredictionRun.Status.FAILED:
            raise CommandError(run.message)
