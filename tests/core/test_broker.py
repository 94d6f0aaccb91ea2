"""The embedded file-system broker: a reader never dies on a half-written or broken message."""

import multiprocessing
import os

import pytest
from kombu import Connection
from kombu.transport import filesystem

from config.celery import app
from core import broker


@pytest.fixture(autouse=True)
def fresh_broker_state():
    """Forget bindings of other tests' folders: the transport keeps them per process."""
    filesystem.Transport.global_state.clear()
    yield
    filesystem.Transport.global_state.clear()


def _options(root):
    options = {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "processed_folder": str(root / "processed"),
        "control_folder": str(root / "control"),
    }
    for folder in options.values():
        os.makedirs(folder, exist_ok=True)
    return options


def _connection(root, transport="core.broker:Transport"):
    return Connection("filesystem://", transport=transport, transport_options=_options(root))


def _write_empty_message(root, queue="jobs", stamp="1"):
    """What kombu's own writer leaves in the folder between creating and writing a file."""
    path = root / "queue" / f"{stamp}_half-written.{queue}.msg"
    path.write_bytes(b"")
    return path


def test_kombus_own_reader_dies_on_a_half_written_message(tmp_path):
    """The crash of issue #22 (kombu issue 1551), reproduced with kombu's transport."""
    with _connection(tmp_path, transport="filesystem") as conn:
        queue = conn.SimpleQueue("jobs")
        _write_empty_message(tmp_path)

        with pytest.raises(ValueError):
            queue.get(timeout=1)


def test_it_skips_a_half_written_message_and_delivers_the_next(tmp_path, caplog):
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        _write_empty_message(tmp_path, stamp="0")
        queue.put({"job": 7})

        message = queue.get(timeout=1)

        assert message.payload == {"job": 7}
        assert os.listdir(tmp_path / "unreadable") == ["0_half-written.jobs.msg"]
        assert "Skipped an unreadable broker message 0_half-written.jobs.msg" in caplog.text
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.2)


def test_a_message_being_written_is_invisible_to_readers(tmp_path):
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        (tmp_path / "queue" / ".partial-write.tmp").write_bytes(b'{"body": ')

        assert queue.qsize() == 0
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.2)
        assert os.listdir(tmp_path / "queue") == [".partial-write.tmp"]


def test_a_message_is_renamed_into_place_whole(tmp_path):
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")

        queue.put({"job": 1, "text": "x" * 100_000})

        names = os.listdir(tmp_path / "queue")
        assert len(names) == 1 and names[0].endswith(".jobs.msg")
        assert queue.get(timeout=1).payload == {"job": 1, "text": "x" * 100_000}
        assert os.listdir(tmp_path / "processed") == []


def _produce(root, count):
    with _connection(root) as conn:
        queue = conn.SimpleQueue("jobs")
        for number in range(count):
            queue.put({"n": number, "pad": "y" * 20_000})


def test_readers_racing_writers_get_every_message_once(tmp_path):
    count = 300
    with _connection(tmp_path) as conn:
        conn.SimpleQueue("jobs")  # declare the queue before the writers start
    writers = [multiprocessing.Process(target=_produce, args=(tmp_path, count)) for _ in range(2)]
    for writer in writers:
        writer.start()
    seen = []
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        while len(seen) < 2 * count:
            message = queue.get(timeout=30)
            seen.append(message.payload["n"])
            message.ack()
    for writer in writers:
        writer.join(timeout=30)

    assert sorted(seen) == sorted(list(range(count)) * 2)
    assert not (tmp_path / "unreadable").exists()


def test_the_embedded_default_uses_this_transport(settings):
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("CELERY_BROKER_URL names another broker")

    with app.connection_for_write() as conn:
        assert conn.transport_cls == "core.broker:Transport"
        assert isinstance(conn.transport, broker.Transport)
        assert issubclass(broker.Channel, filesystem.Channel)
