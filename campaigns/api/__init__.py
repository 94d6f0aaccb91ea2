"""The campaigns REST API under /api/v1/campaigns/."""
