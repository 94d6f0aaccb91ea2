"""Template tags and filters of the profiles app."""
