"""Recompute every profile's computed features now, in this process."""

import json

from django.core.management.base import BaseCommand

from profiles.services.features import features_refresh


class Command(BaseCommand):
    help = "Recompute every profile's RFM features, scores and value tier now, in this process."

    def handle(self, *args, **options):
        self.stdout.write("Refreshing computed features …")
        figures = features_refresh()
        self.stdout.write(
            f"{figures['profiles']:,} profiles updated "
            f"({figures['scored']:,} with a purchase in the last {figures['window_days']} days) "
            f"in {figures['seconds']:.2f}s"
        )
        self.stdout.write(json.dumps(figures))
