"""Loopback servers speaking providers' documented request and response shapes, for tests."""
