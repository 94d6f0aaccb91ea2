"""Evaluate one segment now, in this process."""

import json

from django.core.management.base import BaseCommand, CommandError

from segments.models import Segment
from segments.services import segment_evaluate


class Command(BaseCommand):
    help = "Evaluate a dynamic segment now and print size, entered, exited and seconds."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        segment = Segment.objects.filter(slug=slug).first()
        if segment is None:
            raise CommandError(f"No segment has the slug {slug!r}.")
        if segment.kind != Segment.Kind.DYNAMIC:
            raise CommandError(f"{slug!r} is a static list: its members are set by hand.")
        run = segment_evaluate(segment_id=segment.pk)
        if run is None:
            raise CommandError(f"{slug!r} is being evaluated by a worker right now; try later.")
        if run.error:
            raise CommandError(f"{slug!r} failed: {run.error}")
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"{slug}: size {run.size}, entered {run.entered}, exited {run.exited}, "
            f"{seconds:.2f}s (version {run.version})"
        )
        self.stdout.write(json.dumps({
            "slug": slug, "size": run.size, "entered": run.entered, "exited": run.exited,
            "seconds": round(seconds, 3), "version": run.version,
        }))  # fmt: skip
