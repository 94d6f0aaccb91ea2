"""Settings for several machines: VAR_DIR, the uploads storage and a prefixed shared cache."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = """
import json
from django.conf import settings
print(json.dumps({"var": str(settings.VAR_DIR), "uploads": settings.STORAGES["uploads"],
                  "cache": settings.CACHES["default"]}))
"""


def settings_with(tmp_path, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AWS_"))}
    environment.pop("CACHE_URL", None)
    environment.update(env, DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + SHOW],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_var_dir_moves_this_machines_files_and_the_default_uploads_folder(tmp_path):
    shown = settings_with(tmp_path, VAR_DIR=str(tmp_path / "var"))

    assert shown["var"] == str(tmp_path / "var")
    assert shown["uploads"] == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "var" / "uploads")},
    }
    assert shown["cache"]["LOCATION"] == str(tmp_path / "var" / "cache")


def test_an_s3_bucket_puts_uploads_in_object_storage(tmp_path):
    shown = settings_with(
        tmp_path,
        UPLOADS_S3_BUCKET="ops-uploads",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_S3_REGION_NAME="cn-north-1",
    )

    assert shown["uploads"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert shown["uploads"]["OPTIONS"]["bucket_name"] == "ops-uploads"
    assert shown["uploads"]["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert shown["uploads"]["OPTIONS"]["region_name"] == "cn-north-1"
    assert shown["uploads"]["OPTIONS"]["location"] == "uploads"


def test_a_redis_cache_url_keeps_its_key_prefix(tmp_path):
    shown = settings_with(tmp_path, CACHE_URL="redis://127.0.0.1:6379/3?KEY_PREFIX=ops")

    assert shown["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["cache"]["LOCATION"] == "redis://127.0.0.1:6379/3"
    assert shown["cache"]["KEY_PREFIX"] == "ops"


def site_url_with(tmp_path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "WEB_PORT"}}
    environment.update(env, DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n"
         "from campaigns.tracking import open_url\nprint(open_url(send_id=1))"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def test_links_in_messages_follow_the_web_port_unless_site_url_is_set(tmp_path):
    assert site_url_with(tmp_path).startswith("http://127.0.0.1:8000/campaigns/t/o/")
    assert site_url_with(tmp_path, WEB_PORT="8123").startswith(
        "http://127.0.0.1:8123/campaigns/t/o/"
    )
    shown = site_url_with(tmp_path, WEB_PORT="8123", SITE_URL="https://ops.example.com/")
    assert shown.startswith("https://ops.example.com/campaigns/t/o/")
