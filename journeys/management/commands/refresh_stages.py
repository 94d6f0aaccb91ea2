"""Move every profile to its journey stage now, in this process, and print the figures."""

import json

from django.core.management.base import BaseCommand

from journeys.services import stages_refresh


class Command(BaseCommand):
    help = "Move profiles forward between journey stages now and print the moves as JSON."

    def handle(self, *args, **options):
        figures = stages_refresh()
        for slug, error in figures["errors"].items():
            self.stderr.write(f"{slug}: {error}")
        for slug, moved in figures["by_stage"].items():
            self.stdout.write(f"{slug}: {moved:,} entered")
        self.stdout.write(json.dumps(figures, ensure_ascii=False))
