"""Inbound SMS replies from the provider: a stop word (T, TD, 退订, STOP …) withdraws SMS consent.

The provider POSTs each reply as JSON or a form with ``from`` (the sender's number) and
``text``. It proves itself with the shared secret ``SMS_INBOUND_SECRET``, either as it is in the
``X-Sms-Secret`` header or as ``X-Sms-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>." + body>``, refused once the time is more than WEBHOOK_MAX_AGE_SECONDS from now.
"""

import hmac
import json
import unicodedata

import phonenumbers
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.hostile import nul_allowed
from core.ratelimits import address_rate_limited
from core.webhooks import timed_signature_valid
from profiles.models import ConsentChannel, ConsentPurpose, ConsentSource, ConsentStatus, Profile
from profiles.services.consent import ConsentEntry, consent_current, consent_record_many

# The replies that opt out: what "回T退订" asks for, and the English words carriers honour.
STOP_WORDS = frozenset({"t", "td", "退订", "stop", "end", "cancel", "quit", "unsubscribe"})
ERROR_NOT_CONFIGURED = _("SMS replies are not accepted: set SMS_INBOUND_SECRET first.")
ERROR_FORBIDDEN = _(
    "Missing or wrong X-Sms-Secret header, or an X-Sms-Signature that is wrong or not fresh."
)
ERROR_BAD_BODY = _("Send JSON or a form with “from” (the sender's number) and “text”.")
ERROR_BAD_NUMBER = _("“%(value)s” is not a phone number.")


def is_stop_reply(text: str) -> bool:
    """Return True if the reply is only a stop word, around it at most spaces and punctuation.

    Neither case nor full-width letters matter (full-width T or TD); anything more ("STOP please",
    "T1") is not one.
    """
    text = unicodedata.normalize("NFKC", text)
    start, end = 0, len(text)
    while start < end and _is_filler(text[start]):
        start += 1
    while end > start and _is_filler(text[end - 1]):
        end -= 1
    return text[start:end].casefold() in STOP_WORDS


def _is_filler(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "PZC"


def _storable(text: str) -> str:
    """Return ``text`` without what no database stores (NUL) and without surrounding blanks."""
    return text.replace("\x00", "").strip()


def sms_stop_record(*, phone: str, text: str) -> int:
    """Withdraw SMS marketing consent for every profile with this number (E.164).

    Return how many withdrawals were recorded: a profile whose SMS marketing consent is already
    withdrawn or denied gets none, so a repeated STOP changes nothing.
    """
    with transaction.atomic():
        profiles = Profile.objects.select_for_update().filter(phone=phone).only("pk").order_by("pk")
        entries = []
        for profile in profiles:
            state = consent_current(profile=profile).get(
                (ConsentChannel.SMS, ConsentPurpose.MARKETING)
            )
            if state is not None and state.status != ConsentStatus.GRANTED:
                continue
            entries.append(
                ConsentEntry(
                    profile_id=profile.pk,
                    channel=ConsentChannel.SMS,
                    purpose=ConsentPurpose.MARKETING,
                    status=ConsentStatus.WITHDRAWN,
                    source=ConsentSource.SMS_STOP,
                    evidence=_storable(text),
                )
            )
        if entries:
            consent_record_many(entries=entries)
    return len(entries)


def _signed(request: HttpRequest, secret: str) -> bool:
    """Return True if the request carries the secret or a fresh timed HMAC-SHA256 of its body."""
    given = request.headers.get("X-Sms-Secret", "")
    if given and hmac.compare_digest(given.encode(), secret.encode()):
        return True
    signature = request.headers.get("X-Sms-Signature", "")
    return bool(signature) and timed_signature_valid(signature, request.body, secret)


def _read(request: HttpRequest) -> tuple[str, str] | None:
    """Return (from, text) from a JSON or form body, or None if either is missing."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
    else:
        data = request.POST
    sender, text = data.get("from"), data.get("text")
    if not isinstance(sender, str) or not isinstance(text, str) or not sender.strip():
        return None
    return sender.strip(), text


def _e164(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@nul_allowed
@csrf_exempt
@login_not_required
@require_POST
@address_rate_limited("SMS_INBOUND_RATE_PER_MINUTE", group="public.sms-inbound")
def sms_inbound(request: HttpRequest) -> JsonResponse:
    """Take one reply from the SMS provider; a STOP withdraws the sender's SMS consent."""
    secret = settings.SMS_INBOUND_SECRET
    if not secret:
        return JsonResponse({"error": str(ERROR_NOT_CONFIGURED)}, status=503)
    if not _signed(request, secret):
        return JsonResponse({"error": str(ERROR_FORBIDDEN)}, status=403)
    reply = _read(request)
    if reply is None:
        return JsonResponse({"error": str(ERROR_BAD_BODY)}, status=400)
    sender, text = reply
    phone = _e164(sender)
    if phone is None:
        return JsonResponse({"error": ERROR_BAD_NUMBER % {"value": sender}}, status=400)
    withdrawn = sms_stop_record(phone=phone, text=text) if is_stop_reply(text) else 0
    return JsonResponse({"withdrawn": withdrawn})
