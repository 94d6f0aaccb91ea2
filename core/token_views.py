"""The API tokens page: each user makes (name, expiry; the key shown once), lists and revokes
their own tokens, and finds the API's documentation."""

import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.models import ApiToken
from core.tokens import api_token_create, api_token_revoke

MAX_DAYS = 366
ERROR_EXPIRY_PAST = _("Choose an expiry date after today.")
ERROR_EXPIRY_FAR = _("A token can be valid for at most %(days)s days: choose an earlier date.")
MESSAGE_REVOKED = _("The token was revoked: it no longer works.")


def _max_days() -> int:
    return max(MAX_DAYS, settings.API_TOKEN_DAYS)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the token is for, e.g. “warehouse sync”."),
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The token stops working at the start of the next day (local time)."),
    )

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        today = timezone.localdate()
        if day <= today:
            raise forms.ValidationError(ERROR_EXPIRY_PAST)
        if day > today + datetime.timedelta(days=_max_days()):
            raise forms.ValidationError(ERROR_EXPIRY_FAR % {"days": _max_days()})
        return day

    def expires_at(self) -> datetime.datetime:
        """Return the moment the token stops working: the local midnight after the chosen day."""
        after = self.cleaned_data["expires_on"] + datetime.timedelta(days=1)
        return timezone.make_aware(datetime.datetime.combine(after, datetime.time.min))


def _page(request, form: ApiTokenForm, *, key: str = "", status: int = 200):
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk")
    context = {"form": form, "tokens": tokens, "key": key, "now": timezone.now()}
    return render(request, "core/api_tokens.html", context, status=status)


@never_cache
def api_tokens(request):
    """List the user's tokens; a POST makes one and shows its key this once."""
    if request.method != "POST":
        default = timezone.localdate() + datetime.timedelta(days=settings.API_TOKEN_DAYS)
        return _page(request, ApiTokenForm(initial={"expires_on": default}))
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    _token, key = api_token_create(
        user=request.user, name=form.cleaned_data["name"], expires_at=form.expires_at()
    )
    default = timezone.localdate() + datetime.timedelta(days=settings.API_TOKEN_DAYS)
    return _page(request, ApiTokenForm(initial={"expires_on": default}), key=key)


@require_POST
def api_token_revoke_view(request, pk: int):
    """Revoke one of the user's tokens."""
    if api_token_revoke(user=request.user, pk=pk):
        messages.success(request, MESSAGE_REVOKED)
    return redirect("api-tokens")
