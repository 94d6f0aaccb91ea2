"""Fixtures of the segment tests."""

import pytest

from segments.conditions import registry_restore, registry_snapshot


@pytest.fixture
def registry():
    """Let a test register condition kinds and attributes; put the registry back afterwards."""
    saved = registry_snapshot()
    yield
    registry_restore(saved)
