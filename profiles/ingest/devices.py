"""Read a push device from a profile row: the columns device_token, device_platform and
device_provider (all three, or none)."""

from django.db import transaction

from profiles.ingest.rows import RowInvalid
from profiles.services.devices import (
    ERROR_DEVICE_PARTIAL,
    DeviceEntry,
    DeviceInvalid,
    device_entry_check,
    devices_register_by_external_id,
)

DEVICE_COLUMNS = ("device_token", "device_platform", "device_provider")


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def clean_device(row: dict) -> DeviceEntry | None:
    """Return the row's device, None when its device cells are empty, or raise ``RowInvalid``."""
    token, platform, provider = (_cell(row, column) for column in DEVICE_COLUMNS)
    if not token:
        if platform or provider:
            raise RowInvalid(ERROR_DEVICE_PARTIAL)
        return None
    try:
        return device_entry_check(provider=provider, platform=platform, token=token)
    except DeviceInvalid as exc:
        raise RowInvalid(exc.message, **exc.params) from None


class DeviceRows:
    """The devices of an import's profile rows, written once their profiles are committed.

    ``BatchWriter.submit`` returns when the batches before the one it was given are written
    (all of them when it writes inline), so after each submit the devices of the batch before
    are written, and the rest by ``write_all`` once the writer is closed.
    """

    def __init__(self):
        self.current: list[tuple[str, DeviceEntry]] = []
        self.previous: list[tuple[str, DeviceEntry]] = []

    def add(self, clean: dict) -> None:
        """Take the device out of a cleaned row (the profile row is written without it)."""
        if (device := clean.pop("device", None)) is not None:
            self.current.append((clean["external_id"], device))

    def batch_submitted(self) -> None:
        self._write(self.previous)
        self.previous, self.current = self.current, []

    def write_all(self) -> None:
        self._write(self.previous)
        self._write(self.current)
        self.previous, self.current = [], []

    @staticmethod
    def _write(entries: list[tuple[str, DeviceEntry]]) -> None:
        if entries:
            with transaction.atomic():
                devices_register_by_external_id(entries=entries)
