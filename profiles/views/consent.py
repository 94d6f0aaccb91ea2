"""Pages for consent admins: find a profile, read and record its consent, import, report."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.charts import figure_html
from core.roles import CONSENT_ADMIN, require_role
from core.services import job_enqueue
from profiles import charts, selectors
from profiles.audit import audit_access, audit_access_many
from profiles.forms import ConsentRecordForm, ConsentSearchForm, ConsentUploadForm
from profiles.models import ConsentChannel, ConsentPurpose, ConsentSource, Profile
from profiles.services.consent import ConsentEntry, consent_record
from profiles.services.consent_import import CONSENT_IMPORT_JOB_KIND, consent_import_preview
from profiles.views.imports import stored_upload, upload_store

SEARCH_LIMIT = 20
MESSAGE_RECORDED = gettext_lazy("The consent was recorded.")


def _profile(external_id: str) -> Profile:
    profile = Profile.objects.filter(external_id=external_id).first()
    if profile is None:
        raise Http404
    return profile


def consent_index(request):
    """Start page: search a profile by external ID, email or phone."""
    require_role(request.user, CONSENT_ADMIN)
    form = ConsentSearchForm(request.GET or None)
    results = None
    if form.is_valid() and (query := form.cleaned_data["q"].strip()):
        results = list(
            Profile.objects.filter(selectors.profile_search(query)).order_by("-pk")[:SEARCH_LIMIT]
        )
        if len(results) == 1:
            return redirect("profiles:consent-history", external_id=results[0].external_id)
        audit_access_many(request, [profile.pk for profile in results])  # shown in full
    return render(request, "profiles/consent.html", {"form": form, "results": results})


def _opt_in_url(profile: Profile) -> str | None:
    """Return the URL that sends a double opt-in email, if that view exists yet."""
    try:
        return reverse("profiles:consent-opt-in", args=[profile.external_id])
    except NoReverseMatch:
        return None


def _history(request, profile: Profile, form: ConsentRecordForm):
    return render(
        request,
        "profiles/consent_history.html",
        {
            "profile": profile,
            "overview": selectors.consent_overview(profile=profile),
            "records": selectors.consent_history(profile=profile),
            "form": form,
            "opt_in_url": _opt_in_url(profile),
            "profiling": ConsentPurpose.PROFILING,
        },
    )


def consent_history(request, external_id: str):
    """Show a profile's current consents, its full ledger and the form to record one."""
    require_role(request.user, CONSENT_ADMIN)
    profile = _profile(external_id)
    audit_access(request, profile)  # the page shows personal data: the trail records the view
    return _history(request, profile, ConsentRecordForm())


@require_POST
def consent_record_view(request, external_id: str):
    """Record a grant or withdrawal made by a consent admin, with the reason."""
    require_role(request.user, CONSENT_ADMIN)
    profile = _profile(external_id)
    form = ConsentRecordForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        entry = ConsentEntry(
            profile_id=profile.pk,
            channel=data["channel"],
            purpose=data["purpose"],
            status=data["status"],
            source=ConsentSource.ADMIN,
            notice_version=data["notice_version"],
            evidence=data["evidence"],
            reason=data["reason"],
        )
        try:
            consent_record(entry=entry, recorded_by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, MESSAGE_RECORDED)
            return redirect("profiles:consent-history", external_id=profile.external_id)
    return _history(request, profile, form)


def consent_import(request):
    """Show the upload form; on upload, keep the file and show a preview with its errors."""
    require_role(request.user, CONSENT_ADMIN)
    form = ConsentUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["file"]
        preview = consent_import_preview(source=uploaded)
        upload_id = "" if preview.fatal else upload_store(uploaded)
        return render(
            request,
            "profiles/import_preview.html",
            {
                "preview": preview,
                "upload_id": upload_id,
                "name": uploaded.name,
                "title": _("Consent import preview"),
                "upload_url": reverse("profiles:consent-import"),
                "confirm_url": reverse("profiles:consent-import-confirm"),
                "cancel_url": reverse("profiles:import-cancel"),
            },
        )
    return render(request, "profiles/consent_import.html", {"form": form})


@require_POST
def consent_import_confirm(request):
    """Queue the import of a previewed upload's good rows and show the job's progress."""
    require_role(request.user, CONSENT_ADMIN)
    key = stored_upload(request.POST.get("upload_id", ""))
    job = job_enqueue(
        kind=CONSENT_IMPORT_JOB_KIND,
        payload={"key": key, "name": request.POST.get("name", "")[:200]},
        user=request.user,
    )
    return redirect("job-detail", pk=job.pk)


def consent_report(request):
    """Show the share of profiles with a granted marketing consent per channel, month by month."""
    require_role(request.user, CONSENT_ADMIN)
    rows = selectors.consent_rates(purpose=ConsentPurpose.MARKETING, months=12)
    labels = dict(ConsentChannel.choices)
    figure = charts.consent_rates_figure(
        rows,
        title=_("Profiles with a granted marketing consent, per channel (12 months)"),
        channel_labels=labels,
    )
    latest = [
        {**row, "channel_label": labels.get(row["channel"], row["channel"])}
        for row in rows
        if row["at"] == rows[-1]["at"]
    ]
    return render(
        request,
        "profiles/consent_report.html",
        {"chart": figure_html(figure), "latest": latest, "rows": rows},
    )
