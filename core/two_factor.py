"""Two-factor login (django-otp, TOTP) for superusers and consent admins.

After their password they enter a code from an authenticator app before any page opens
(``TwoFactorMiddleware``); the first time, they enrol from a page showing a QR code and the
secret. A session that passed the step is "verified" (django-otp keeps the device in it). Until
then only these pages, logging out and switching the language answer; the API answers 403.
"""

import base64

import segno
from django import forms
from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.roles import user_is_privileged

ERROR_WRONG_CODE = _("That code is not right, or was used already: enter the current one.")
ERROR_SECOND_FACTOR = _("Finish signing in with your authenticator code first.")
OPEN_BEFORE_THE_STEP = frozenset(
    {"two-factor-verify", "two-factor-setup", "logout", "set_language"}
)


class CodeForm(forms.Form):
    token = forms.CharField(
        label=_("Code from your authenticator app"),
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class TwoFactorMiddleware:
    """Send a privileged user who has not passed the second step to it (after OTPMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user_is_privileged(user) or user.is_verified():
            return None
        if request.resolver_match.url_name in OPEN_BEFORE_THE_STEP:
            return None
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": str(ERROR_SECOND_FACTOR)}, status=403)
        step = "two-factor-verify" if user_has_device(user) else "two-factor-setup"
        return redirect(f"{reverse(step)}?next={request.get_full_path()}")


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("home")


def _confirmed_device(user, token: str) -> TOTPDevice | None:
    """Return the user's confirmed device that accepts ``token`` (each counts its failures)."""
    with transaction.atomic():
        for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(token):
                return device
    return None


def two_factor_verify(request):
    """Ask a privileged user for the current code of their device; on success, go on."""
    if not user_has_device(request.user):
        return redirect("two-factor-setup")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = _confirmed_device(request.user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error("token", ERROR_WRONG_CODE)
    return render(
        request, "registration/two_factor_verify.html", {"form": form, "next": _next(request)}
    )


def _qr_svg(url: str) -> str:
    """Return the QR code of ``url`` as inline SVG markup (no script, no style attribute)."""
    return mark_safe(segno.make(url, error="m").svg_inline(scale=4, title=escape("QR")))  # noqa: S308 (segno's own markup)


def two_factor_setup(request):
    """Enrol a device: show the QR code and secret of a new TOTP key, confirm it by one code.

    Once a user has a confirmed device, a new one is enrolled only from a verified session
    (an administrator deletes a lost device in the admin).
    """
    user = request.user
    if user_has_device(user) and not user.is_verified():
        return redirect("two-factor-verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error("token", ERROR_WRONG_CODE)
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "next": _next(request),
            "qr_svg": _qr_svg(device.config_url),
            "secret": secret,
            "issuer": settings.OTP_TOTP_ISSUER,
        },
    )
