"""Uploads in the uploads storage: saved under a key, opened by key, swept when abandoned."""

import io
import os
import time
from datetime import timedelta

import pytest

from core.models import Job, JobStatus
from core.uploads import (
    ERROR_BAD_KEY,
    upload_delete,
    upload_exists,
    upload_key,
    upload_open,
    upload_save,
    uploads_sweep,
)

pytestmark = pytest.mark.django_db


def age(root, key: str, hours: float) -> None:
    path = root / key
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_an_upload_is_saved_under_a_key_and_read_back_by_it(uploads_root):
    key = upload_save(file=io.BytesIO(b"external_id\nx-1\n"))

    with upload_open(key) as file:
        content = file.read()

    assert key.startswith("imports/") and key.endswith(".csv")
    assert (uploads_root / key).is_file()
    assert content == b"external_id\nx-1\n"


@pytest.mark.parametrize("key", ["../etc/passwd", "imports/../../x.csv", "/var/a.csv", ""])
def test_a_key_that_is_not_an_upload_is_refused(uploads_root, key):
    with pytest.raises(ValueError) as refused:
        upload_open(key)

    assert str(refused.value) == ERROR_BAD_KEY.format(key=key)
    assert not upload_exists(key)


def test_a_form_id_maps_to_a_key_only_when_it_is_32_hex_digits():
    assert upload_key("0" * 32) == f"imports/{'0' * 32}.csv"
    assert upload_key("../../etc/passwd") is None
    assert upload_key("A" * 32) is None


def test_a_deleted_upload_cannot_be_opened(uploads_root):
    key = upload_save(file=io.BytesIO(b"a\n"))

    upload_delete(key)

    with pytest.raises(FileNotFoundError):
        upload_open(key)


def test_the_sweep_deletes_old_uploads_no_unfinished_job_uses(uploads_root, settings):
    settings.UPLOADS_MAX_AGE_HOURS = 24
    old = upload_save(file=io.BytesIO(b"old\n"))
    queued = upload_save(file=io.BytesIO(b"queued\n"))
    failed = upload_save(file=io.BytesIO(b"failed\n"))
    young = upload_save(file=io.BytesIO(b"young\n"))
    for key in (old, queued, failed):
        age(uploads_root, key, hours=25)
    age(uploads_root, young, hours=23)
    Job.objects.create(kind="profiles.import", payload={"key": queued}, status=JobStatus.QUEUED)
    Job.objects.create(kind="profiles.import", payload={"key": failed}, status=JobStatus.FAILED)

    outcome = uploads_sweep()

    assert outcome == {"deleted": 2, "kept": 2}
    assert sorted(p.name for p in (uploads_root / "imports").iterdir()) == sorted(
        key.removeprefix("imports/") for key in (queued, young)
    )


def test_the_sweep_takes_an_age_and_copes_with_no_uploads_yet(uploads_root):
    assert uploads_sweep(max_age=timedelta(hours=1)) == {"deleted": 0, "kept": 0}

    key = upload_save(file=io.BytesIO(b"x\n"))
    age(uploads_root, key, hours=2)

    assert uploads_sweep(max_age=timedelta(hours=1)) == {"deleted": 1, "kept": 0}


def test_beat_sweeps_the_uploads_every_hour(settings):
    from core.tasks import uploads_sweep_task

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-uploads"]

    assert entry == {"task": uploads_sweep_task.name, "schedule": 3600.0}
