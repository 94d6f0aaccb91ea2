"""The flows REST API under /api/v1/flows/."""
