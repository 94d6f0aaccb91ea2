"""Consent admins send a profile a double opt-in email."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.roles import CONSENT_ADMIN, require_role
from profiles.models import Profile
from profiles.services.consent_optin import consent_opt_in_send

MESSAGE_SENT = _(
    "A confirmation email has been sent; the consent is recorded once it is confirmed."
)


def _back(external_id: str) -> str:
    try:
        return reverse("profiles:consent-history", args=[external_id])
    except NoReverseMatch:
        return reverse("profiles:detail", args=[external_id])


@require_POST
def consent_opt_in_view(request, external_id: str):
    """Email the profile a signed double opt-in link for the posted channel and purpose."""
    require_role(request.user, CONSENT_ADMIN)
    profile = get_object_or_404(Profile, external_id=external_id)
    try:
        consent_opt_in_send(
            profile=profile,
            channel=request.POST.get("channel", "email"),
            purpose=request.POST.get("purpose", "marketing"),
            requested_by=request.user,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, MESSAGE_SENT)
    return redirect(_back(profile.external_id))
