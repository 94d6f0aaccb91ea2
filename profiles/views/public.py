"""End-user pages reached from signed links in messages: preferences, unsubscribe, opt-in.

No login: the signed token is the authorisation, and only for what it was made for. The
unsubscribe token withdraws its own channel and purpose. The preference token (its own salt, a
shorter life) withdraws anything but grants only its own channel and purpose: anyone who sees one
message holds it, so any other grant asked for there is emailed to the profile as a double opt-in
link and recorded only once confirmed. A tampered, expired or malformed token and a
token for a profile that no longer exists all get the same answer (``_refused``), so the pages
never tell whether a profile exists. The one-click unsubscribe of RFC 8058 takes a POST without
cookies, session or CSRF token; a GET only shows a button, so link scanners unsubscribe no one.
"""

import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.csp import inline_styles_hashed
from core.ratelimits import address_rate_limited, link_rate_limited
from profiles.models import ConsentChannel, ConsentSource, ConsentStatus, Profile
from profiles.services.consent import (
    ConsentEntry,
    consent_current,
    consent_purposes,
    consent_record,
    consent_record_many,
)
from profiles.services.consent_links import (
    ConsentLink,
    consent_token_read,
    opt_in_token_read,
    preferences_token_read,
)
from profiles.services.consent_optin import consent_opt_in_send

EVIDENCE_PREFERENCES = "Changed on the preference page."
EVIDENCE_UNSUBSCRIBE = "One-click unsubscribe link (RFC 8058)."
EVIDENCE_CONFIRM = "Confirmed from the double opt-in link."

TITLE_REFUSED = _("This link is not valid")
MESSAGE_CONFIRMATION_SENT = _(
    "We have emailed you a link to confirm the new subscriptions: they start once you confirm."
)
MESSAGE_CONFIRMATION_IMPOSSIBLE = _(
    "New subscriptions must be confirmed by email, and we have no email address for you."
)
MESSAGE_CONFIRMATION_NOT_SENT = _(
    "New subscriptions must be confirmed by email, and our mail server could not send the "
    "confirmation just now: please try again later."
)


def _refused(request):
    """Answer every unusable token alike: same status, same body, whatever the reason."""
    return render(request, "profiles/public/invalid.html", {"title": TITLE_REFUSED}, status=404)


def _resolve(link: ConsentLink | None) -> Profile | None:
    """Return the profile a valid link is for, or None when the link cannot be used."""
    if link is None:
        return None
    if link.channel not in ConsentChannel.values:
        return None
    if link.purpose not in {value for value, _label in consent_purposes()}:
        return None
    return Profile.objects.filter(pk=link.profile_id).first()


def _evidence(request) -> dict:
    """Return the request's IP address and user agent as consent evidence."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        ip = str(ipaddress.ip_address(address))
    except ValueError:
        ip = None
    return {
        "evidence_ip": ip,
        "evidence_user_agent": request.META.get("HTTP_USER_AGENT", "")[:500],
        "notice_version": settings.CONSENT_NOTICE_VERSION,
    }


def _is_granted(current: dict, channel: str, purpose: str) -> bool:
    state = current.get((channel, purpose))
    return state is not None and state.status == ConsentStatus.GRANTED


def _preference_rows(profile: Profile) -> list[dict]:
    """Return one row per purpose with, per channel, the field name and whether it is granted."""
    current = consent_current(profile=profile)
    return [
        {
            "purpose": purpose,
            "label": label,
            "cells": [
                {
                    "channel": channel,
                    "label": channel_label,
                    "name": f"consent-{channel}-{purpose}",
                    "granted": _is_granted(current, channel, purpose),
                }
                for channel, channel_label in ConsentChannel.choices
            ],
        }
        for purpose, label in consent_purposes()
    ]


def _preferences_save(request, profile: Profile, link: ConsentLink) -> tuple[int, list]:
    """Record the changed choices the link may make; return (recorded, grants to confirm)."""
    current = consent_current(profile=profile)
    evidence = _evidence(request)
    entries, to_confirm = [], []
    for purpose, _label in consent_purposes():
        for channel in ConsentChannel.values:
            wanted = f"consent-{channel}-{purpose}" in request.POST
            if wanted == _is_granted(current, channel, purpose):
                continue
            if wanted and (channel, purpose) != (link.channel, link.purpose):
                to_confirm.append((channel, purpose))
                continue
            entries.append(
                ConsentEntry(
                    profile_id=profile.pk,
                    channel=channel,
                    purpose=purpose,
                    status=ConsentStatus.GRANTED if wanted else ConsentStatus.WITHDRAWN,
                    source=ConsentSource.PREFERENCES,
                    evidence=EVIDENCE_PREFERENCES,
                    **evidence,
                )
            )
    if entries:
        consent_record_many(entries=entries)
    return len(entries), to_confirm


def _confirmations_send(profile: Profile, pairs: list) -> str:
    """Email a double opt-in link for each (channel, purpose); return the notice to show."""
    if not pairs:
        return ""
    if not profile.email:  # nobody can confirm
        return MESSAGE_CONFIRMATION_IMPOSSIBLE
    try:
        for channel, purpose in pairs:
            consent_opt_in_send(profile=profile, channel=channel, purpose=purpose)
    except ValidationError:  # the mail server is down or refused the message
        return MESSAGE_CONFIRMATION_NOT_SENT
    return MESSAGE_CONFIRMATION_SENT


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@address_rate_limited("PUBLIC_ADDRESS_RATE_PER_MINUTE", group="public.consent-pages")
@link_rate_limited
@inline_styles_hashed
def preferences(request, token: str):
    """Show the profile's opt-ins per channel and purpose; on POST record the changed ones."""
    link = preferences_token_read(token)
    profile = _resolve(link)
    if profile is None:
        return _refused(request)
    saved, notice = None, ""
    if request.method == "POST":
        saved, to_confirm = _preferences_save(request, profile, link)
        notice = _confirmations_send(profile, to_confirm)
    return render(
        request,
        "profiles/public/preferences.html",
        {"rows": _preference_rows(profile), "saved": saved, "notice": notice, "token": token},
    )


def _withdraw_once(request, profile: Profile, link: ConsentLink) -> None:
    """Withdraw the link's consent unless it is already withdrawn or denied (idempotent)."""
    state = consent_current(profile=profile).get((link.channel, link.purpose))
    if state is not None and state.status != ConsentStatus.GRANTED:
        return
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel=link.channel,
            purpose=link.purpose,
            status=ConsentStatus.WITHDRAWN,
            source=ConsentSource.UNSUBSCRIBE,
            evidence=EVIDENCE_UNSUBSCRIBE,
            **_evidence(request),
        )
    )


def _labels(link: ConsentLink) -> dict:
    purposes = dict(consent_purposes())
    return {
        "channel_label": ConsentChannel(link.channel).label,
        "purpose_label": purposes[link.purpose],
    }


@login_not_required
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
@address_rate_limited("PUBLIC_ADDRESS_RATE_PER_MINUTE", group="public.consent-pages")
@link_rate_limited
@inline_styles_hashed
def unsubscribe(request, token: str):
    """RFC 8058 one-click unsubscribe: POST withdraws the consent, GET asks for confirmation."""
    link = consent_token_read(token)
    profile = _resolve(link)
    if profile is None:
        return _refused(request)
    if request.method == "POST":
        _withdraw_once(request, profile, link)
        return render(request, "profiles/public/unsubscribed.html", _labels(link))
    return render(request, "profiles/public/unsubscribe.html", {"token": token, **_labels(link)})


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@address_rate_limited("PUBLIC_ADDRESS_RATE_PER_MINUTE", group="public.consent-pages")
@link_rate_limited
@inline_styles_hashed
def confirm(request, token: str):
    """Double opt-in: GET shows a button, POST appends the grant unless it is already granted."""
    link = opt_in_token_read(token)
    profile = _resolve(link)
    if profile is None:
        return _refused(request)
    if request.method == "POST":
        state = consent_current(profile=profile).get((link.channel, link.purpose))
        if state is None or state.status != ConsentStatus.GRANTED:
            consent_record(
                entry=ConsentEntry(
                    profile_id=profile.pk,
                    channel=link.channel,
                    purpose=link.purpose,
                    status=ConsentStatus.GRANTED,
                    source=ConsentSource.DOUBLE_OPT_IN,
                    evidence=EVIDENCE_CONFIRM,
                    **_evidence(request),
                )
            )
        return render(request, "profiles/public/confirmed.html", _labels(link))
    return render(request, "profiles/public/confirm.html", {"token": token, **_labels(link)})
