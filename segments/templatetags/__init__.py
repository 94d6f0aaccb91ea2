"""Template tags and filters of the segments app."""
