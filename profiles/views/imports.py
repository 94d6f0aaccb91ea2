"""Upload a CSV of profiles or events, preview it with its errors, then import it as a job."""

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.roles import OPS, require_role
from core.services import job_enqueue
from profiles import ingest
from profiles.forms import IMPORT_KINDS, UploadForm

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def _upload_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def upload_store(uploaded) -> tuple[str, Path]:
    """Store an uploaded CSV under a random id until it is confirmed; return (id, path)."""
    upload_id = uuid.uuid4().hex
    _upload_dir().mkdir(parents=True, exist_ok=True)
    path = _upload_dir() / f"{upload_id}.csv"
    with open(path, "wb") as target:
        for chunk in uploaded.chunks():
            target.write(chunk)
    return upload_id, path


def upload_path(upload_id: str) -> Path:
    if not _UPLOAD_ID.match(upload_id or ""):
        raise Http404
    path = _upload_dir() / f"{upload_id}.csv"
    if not path.is_file():
        raise Http404
    return path


def import_upload(request):
    """Show the upload form; on upload, store the file and show a preview with its errors."""
    require_role(request.user, OPS)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload_id, path = upload_store(form.cleaned_data["file"])
        kind = form.cleaned_data["kind"]
        preview = ingest.import_preview(path=path, kind=kind)
        if preview.fatal:
            path.unlink(missing_ok=True)
        return render(
            request,
            "profiles/import_preview.html",
            {"preview": preview, "upload_id": upload_id, "kind": kind,
             "name": form.cleaned_data["file"].name, "title": _("Import preview"),
             "upload_url": reverse("profiles:import"),
             "confirm_url": reverse("profiles:import-confirm")},
        )  # fmt: skip
    return render(request, "profiles/import_upload.html", {"form": form})


@require_POST
def import_confirm(request):
    """Queue the import of a previewed upload and show the job's progress."""
    require_role(request.user, OPS)
    kind = request.POST.get("kind")
    if kind not in dict(IMPORT_KINDS):
        raise Http404
    path = upload_path(request.POST.get("upload_id", ""))
    job = job_enqueue(
        kind=ingest.IMPORT_JOB_KIND,
        payload={"path": str(path), "kind": kind, "name": request.POST.get("name", "")[:200]},
        user=request.user,
        total=ingest.count_data_lines(path),
    )
    return redirect("job-detail", pk=job.pk)
