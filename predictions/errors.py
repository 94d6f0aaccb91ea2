"""Errors raised by the prediction models."""


class ModelError(Exception):
    """A model could not be fitted; the message says why, for people."""
