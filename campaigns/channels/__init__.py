"""Channels: the ways a campaign reaches people, one module each."""
