"""Import events from a CSV file (external_id, name, occurred_at required)."""

from profiles.management.importing import ImportCommand


class Command(ImportCommand):
    help = "Import events from a CSV file with a header row; re-importing adds nothing."
    kind = "events"
