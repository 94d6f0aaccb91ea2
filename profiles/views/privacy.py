"""Pages for consent admins answering data-subject requests: export and erasure."""

from django import forms
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.roles import CONSENT_ADMIN, require_role
from profiles.converters import external_id_to_url
from profiles.models import Profile
from profiles.services import privacy

MESSAGE_ERASED = _("The personal data of this profile has been erased; its aggregates remain.")


class ProfileEraseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Who asked, how, and the reference of the request."),
    )
    confirm = forms.BooleanField(
        label=_("I understand that the personal data will be anonymised and cannot be restored.")
    )


@never_cache
@require_POST
def profile_export_view(request, external_id: str):
    """Download everything stored about the profile as a JSON file, recording the export with
    the posted reason (a POST: no link can export, nor choose the reason recorded)."""
    require_role(request.user, CONSENT_ADMIN)
    profile = get_object_or_404(Profile, external_id=external_id)
    reason = request.POST.get("reason", "").strip()[:2000]
    data = privacy.profile_export(profile=profile, user=request.user, reason=reason)
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 2})
    filename = f"profile-{external_id_to_url(external_id)}-{timezone.localdate():%Y%m%d}.json"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@require_POST
def profile_erase_view(request, external_id: str):
    """Anonymise the profile's personal data once the request is confirmed with a reason."""
    require_role(request.user, CONSENT_ADMIN)
    profile = get_object_or_404(Profile, external_id=external_id)
    form = ProfileEraseForm(request.POST)
    if not form.is_valid():
        return render(request, "profiles/erase.html", {"profile": profile, "form": form})
    privacy.profile_erase(profile=profile, user=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, MESSAGE_ERASED)
    return redirect("profiles:detail", external_id=profile.external_id)
