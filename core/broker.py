"""The embedded broker: kombu's file-system transport with atomic writes and a forgiving reader.

kombu's own transport creates a message file under its final name and then writes it, so a worker
polling the folder can take the file while it is still empty and die on the JSON error (kombu
issue 1551). Here a message is written under a hidden temporary name in the same folder and renamed
into place (atomic on POSIX), a reader claims a file by renaming it into the processed folder (one
reader wins), and a file that still cannot be decoded is logged and set aside, never raised: the
jobs table is the queue of record, and ``core.services.job_sweep`` re-sends a lost job message.
"""

import contextlib
import logging
import os
import tempfile
import time
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

BAD_FOLDER = "unreadable"
TABLE_READ_TRIES = 20
TABLE_READ_PAUSE = 0.05


class Channel(filesystem.Channel):
    """A file-system channel whose messages appear whole or not at all."""

    def _put(self, queue, payload, **kwargs):
        """Write ``payload`` to a temporary file, then rename it into the queue folder."""
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        try:
            fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise ChannelError(f"Cannot add a message file to {folder!r}") from exc
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(dumps(payload).encode())
            os.replace(temporary, os.path.join(folder, name))
        except OSError as exc:
            _remove(temporary)
            raise ChannelError(f"Cannot add file {name!r} to {folder!r}") from exc

    def _get(self, queue):
        """Claim and return the oldest readable message of ``queue``; skip unreadable ones."""
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue  # another queue's message, or a temporary file being written
            claimed = os.path.join(self.processed_folder, filename)
            try:
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except OSError:
                continue  # another reader took it first
            try:
                with open(claimed, "rb") as file:
                    payload = file.read()
                message = loads(payload.decode())
            except (OSError, ValueError) as exc:
                self._set_aside(claimed, exc)
                continue
            if not self.store_processed:
                _remove(claimed)
            return message
        raise filesystem.Empty()

    def _set_aside(self, path: str, exc: Exception) -> None:
        """Move an unreadable message file to the ``unreadable`` folder and log it."""
        folder = os.path.join(os.path.dirname(self.processed_folder), BAD_FOLDER)
        os.makedirs(folder, exist_ok=True)
        try:
            os.replace(path, os.path.join(folder, os.path.basename(path)))
        except OSError:
            _remove(path)
        logger.error(
            "Skipped an unreadable broker message %s (%s); kept in %s. A job it pointed at is "
            "sent again by the job sweep.",
            os.path.basename(path),
            exc,
            folder,
        )

    def get_table(self, exchange):
        """Read an exchange's bindings, waiting while another process is creating the file."""
        for _ in range(TABLE_READ_TRIES - 1):
            try:
                return super().get_table(exchange)
            except ValueError:  # created empty, not yet written and locked by its writer
                time.sleep(TABLE_READ_PAUSE)
        try:
            return super().get_table(exchange)
        except ValueError as exc:
            raise ChannelError(f"Cannot read the bindings of exchange {exchange!r}") from exc


class Transport(filesystem.Transport):
    """kombu's file-system transport with :class:`Channel`."""

    Channel = Channel


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
