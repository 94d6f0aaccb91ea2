"""Import profiles from a CSV file (external_id required; unknown columns become traits)."""

from profiles.management.importing import ImportCommand


class Command(ImportCommand):
    help = "Import profiles from a CSV file with a header row; re-importing changes nothing."
    kind = "profiles"
