"""Upload a CSV of profiles or events, preview it with its errors, then import it as a job."""

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.roles import CONSENT_ADMIN, OPS, require_role
from core.services import job_enqueue
from core.uploads import upload_delete, upload_exists, upload_id_of, upload_key, upload_save
from profiles import ingest
from profiles.forms import IMPORT_KINDS, UploadForm


def upload_store(uploaded) -> str:
    """Keep an uploaded file in the uploads storage until it is confirmed; return its form id."""
    return upload_id_of(upload_save(file=uploaded))


def stored_upload(upload_id: str) -> str:
    """Return the storage key of a previewed upload, or raise Http404 when there is none."""
    key = upload_key(upload_id or "")
    if key is None or not upload_exists(key):
        raise Http404
    return key


def import_upload(request):
    """Show the upload form; on upload, keep the file and show a preview with its errors."""
    require_role(request.user, OPS)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["file"]
        kind = form.cleaned_data["kind"]
        preview = ingest.import_preview(source=uploaded, kind=kind)
        upload_id = "" if preview.fatal else upload_store(uploaded)
        return render(
            request,
            "profiles/import_preview.html",
            {"preview": preview, "upload_id": upload_id, "kind": kind,
             "name": uploaded.name, "title": _("Import preview"),
             "upload_url": reverse("profiles:import"),
             "confirm_url": reverse("profiles:import-confirm"),
             "cancel_url": reverse("profiles:import-cancel")},
        )  # fmt: skip
    return render(request, "profiles/import_upload.html", {"form": form})


@require_POST
def import_confirm(request):
    """Queue the import of a previewed upload and show the job's progress."""
    require_role(request.user, OPS)
    kind = request.POST.get("kind")
    if kind not in dict(IMPORT_KINDS):
        raise Http404
    key = stored_upload(request.POST.get("upload_id", ""))
    job = job_enqueue(
        kind=ingest.IMPORT_JOB_KIND,
        payload={"key": key, "kind": kind, "name": request.POST.get("name", "")[:200]},
        user=request.user,
    )
    return redirect("job-detail", pk=job.pk)


@require_POST
def import_cancel(request):
    """Delete a previewed upload at once (rather than at the sweep) and go back to its form."""
    require_role(request.user, OPS, CONSENT_ADMIN)
    key = upload_key(request.POST.get("upload_id", ""))
    if key is not None:
        upload_delete(key)
    back = request.POST.get("next")
    allowed = {reverse("profiles:import"), reverse("profiles:consent-import")}
    return redirect(back if back in allowed else "profiles:import")
