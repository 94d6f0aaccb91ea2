"""SMS delivery receipts: the providers' callbacks say whether each sent SMS reached its phone.

Aliyun SMS (``SmsReport``, the HTTP batch push) and Tencent Cloud SMS (the status callback) POST
a JSON array of reports to ``/campaigns/sms/receipts/<provider>/<token>/`` (or without the token
in the path and with the ``X-Sms-Receipt-Token`` header): ``SMS_RECEIPT_TOKEN`` is the only
proof a call comes from the provider, which signs nothing. A report names the message by the
provider's id (Aliyun ``biz_id``: the ``BizId`` of SendSms; Tencent ``sid``: the ``SerialNo``),
which the ledger keeps in ``Send.message_id``, and the number it went to; the row must match
both. A report older than ``SMS_RECEIPT_MAX_AGE_SECONDS`` (or from the future) makes the call a
replay: it is refused (403) and changes nothing; so does a body that is not such an array (400).

A row takes its first report only (``delivery`` is set once): a report delivered twice, or a
second report for the same message, changes nothing. A report for a message the ledger has not
recorded yet (a worker records its sent rows in groups) answers 503 while the report is younger
than ``SMS_RECEIPT_RETRY_SECONDS``: both providers then push the call again later. A delivered
report is also a ``delivered`` tracking event, so the apps above hear of it (``campaigns.hooks``).
"""

from __future__ import annotations

import datetime
import hmac
import json
import logging
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from campaigns.models import Channel, Send, TrackingEvent
from campaigns.tracking import tracking_record
from core.hostile import nul_allowed
from core.ratelimits import address_rate_limited

logger = logging.getLogger(__name__)

MAX_REPORTS = 1000  # reports in one call
ERROR_NOT_CONFIGURED = _("Delivery receipts are not accepted: set SMS_RECEIPT_TOKEN first.")
ERROR_FORBIDDEN = _("Missing or wrong receipt token (in the URL or X-Sms-Receipt-Token).")
ERROR_NOT_ARRAY = _("Send a JSON array of 1 to %(max)s delivery reports.")
ERROR_NOT_OBJECT = _("Report %(index)s is not a JSON object.")
ERROR_FIELD = _("Report %(index)s: “%(field)s” is missing or not %(kind)s.")
ERROR_TIME = _("Report %(index)s: “%(field)s” is “%(value)s”, not a time as YYYY-MM-DD HH:MM:SS.")
ERROR_STALE = _(
    "Report %(index)s was made at %(value)s, outside the %(seconds)s seconds a report is "
    "taken: a replayed call is refused."
)
ERROR_NOT_RECORDED_YET = _(
    "%(count)s reports name messages not recorded yet: push them again later."
)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_FUTURE_SLACK = datetime.timedelta(minutes=5)


class ReceiptError(Exception):
    """A call that cannot be taken: its text says why, ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Receipt:
    """One delivery report: the provider's message id and number, and what became of it."""

    message_id: str
    phone: str
    delivered: bool
    code: str
    description: str
    reported_at: datetime.datetime
    parts: int = 0  # the parts the provider billed, when it says (Aliyun's ``sms_size``)


# --- reading the providers' bodies -------------------------------------------------------------


def _text(item: dict, field: str, index: int, *, required: bool = True) -> str:
    value = item.get(field)
    if value is None and not required:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        raise ReceiptError(ERROR_FIELD % {"index": index, "field": field, "kind": _("text")})
    return value.strip()


def _time(item: dict, field: str, index: int) -> datetime.datetime:
    value = _text(item, field, index)
    if not _TIME.fullmatch(value):
        raise ReceiptError(ERROR_TIME % {"index": index, "field": field, "value": value[:40]})
    try:
        moment = datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ReceiptError(ERROR_TIME % {"index": index, "field": field, "value": value}) from None
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(settings.SMS_RECEIPT_TIME_ZONE))


def _items(body: bytes) -> list[dict]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_REPORTS:
        raise ReceiptError(ERROR_NOT_ARRAY % {"max": MAX_REPORTS})
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ReceiptError(ERROR_NOT_OBJECT % {"index": index})
    return data


def aliyun_receipts_parse(body: bytes) -> list[Receipt]:
    """Return the reports of an Aliyun ``SmsReport`` push; raise ``ReceiptError`` for a bad one.

    Each: ``phone_number``, ``report_time`` (China time), ``success`` (a boolean),
    ``err_code`` (``DELIVERED`` or the carrier's code), ``err_msg``, ``biz_id``, ``sms_size``.
    """
    receipts = []
    for index, item in enumerate(_items(body)):
        success = item.get("success")
        if not isinstance(success, bool):
            kind = _("true or false")
            raise ReceiptError(ERROR_FIELD % {"index": index, "field": "success", "kind": kind})
        size = _text(item, "sms_size", index, required=False)
        receipts.append(
            Receipt(
                message_id=_text(item, "biz_id", index),
                phone=_text(item, "phone_number", index),
                delivered=success,
                code=_text(item, "err_code", index, required=False)[:64],
                description=_text(item, "err_msg", index, required=False)[:255],
                reported_at=_time(item, "report_time", index),
                parts=int(size) if size.isdigit() and int(size) < 100 else 0,
            )
        )
    return receipts


def tencent_receipts_parse(body: bytes) -> list[Receipt]:
    """Return the reports of a Tencent Cloud SMS status callback; raise ``ReceiptError``.

    Each: ``mobile``, ``nationcode``, ``user_receive_time`` (China time), ``report_status``
    (``SUCCESS`` or ``FAIL``), ``errmsg`` (``DELIVRD`` or the carrier's code),
    ``description``, ``sid``.
    """
    receipts = []
    for index, item in enumerate(_items(body)):
        status = _text(item, "report_status", index).upper()
        if status not in ("SUCCESS", "FAIL"):
            kind = _("SUCCESS or FAIL")
            raise ReceiptError(
                ERROR_FIELD % {"index": index, "field": "report_status", "kind": kind}
            )
        receipts.append(
            Receipt(
                message_id=_text(item, "sid", index),
                phone=_text(item, "mobile", index),
                delivered=status == "SUCCESS",
                code=_text(item, "errmsg", index, required=False)[:64],
                description=_text(item, "description", index, required=False)[:255],
                reported_at=_time(item, "user_receive_time", index),
            )
        )
    return receipts


def receipts_fresh_check(receipts: list[Receipt], *, now: datetime.datetime) -> None:
    """Raise ``ReceiptError`` (403) if a report is older than the window or from the future."""
    window = settings.SMS_RECEIPT_MAX_AGE_SECONDS
    oldest = now - datetime.timedelta(seconds=window)
    for index, receipt in enumerate(receipts):
        if not oldest <= receipt.reported_at <= now + _FUTURE_SLACK:
            shown = timezone.localtime(receipt.reported_at).isoformat()
            values = {"index": index, "value": shown, "seconds": window}
            raise ReceiptError(ERROR_STALE % values, status=403)


# --- recording ---------------------------------------------------------------------------------


@dataclass
class ReceiptTally:
    """What one call's reports did: recorded, already recorded, for no known message."""

    recorded: int = 0
    repeated: int = 0
    unknown: int = 0
    not_yet: int = 0  # unknown, and young enough that the message may not be recorded yet


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _same_number(address: str, phone: str) -> bool:
    """Return True if the report's number (national, or with its country code) is the row's."""
    ours, theirs = _digits(address), _digits(phone)
    return len(theirs) >= 5 and ours.endswith(theirs)


def _rows_by_message(receipts: list[Receipt]) -> dict[str, list[tuple[int, str]]]:
    ids = {receipt.message_id for receipt in receipts}
    rows = Send.objects.filter(
        message_id__in=ids, campaign__channel=Channel.SMS, status=Send.Status.SENT
    ).values_list("message_id", "pk", "address")
    found: dict[str, list[tuple[int, str]]] = {}
    for message_id, pk, address in rows:
        found.setdefault(message_id, []).append((pk, address))
    return found


def _record(pk: int, receipt: Receipt) -> bool:
    """Set the row's delivery from the report unless it has one; return whether it changed."""
    changes = {
        "delivery": Send.Delivery.DELIVERED if receipt.delivered else Send.Delivery.FAILED,
        "delivery_at": receipt.reported_at,
        "delivery_code": receipt.code,
        "delivery_error": "" if receipt.delivered else receipt.description,
    }
    if receipt.parts:
        changes["parts"] = receipt.parts
    changed = Send.objects.filter(pk=pk, delivery="").update(**changes)
    if changed and receipt.delivered:
        tracking_record(send_id=pk, kind=TrackingEvent.Kind.DELIVERED, at=receipt.reported_at)
    return bool(changed)


def sms_receipts_record(*, receipts: list[Receipt], now: datetime.datetime) -> ReceiptTally:
    """Record each report on its ledger row (first report wins) in one transaction."""
    tally = ReceiptTally()
    young = now - datetime.timedelta(seconds=settings.SMS_RECEIPT_RETRY_SECONDS)
    with transaction.atomic():
        rows = _rows_by_message(receipts)
        for receipt in receipts:
            pk = next(
                (
                    pk
                    for pk, address in rows.get(receipt.message_id, ())
                    if _same_number(address, receipt.phone)
                ),
                None,
            )
            if pk is None:
                tally.unknown += 1
                tally.not_yet += receipt.reported_at >= young
            elif _record(pk, receipt):
                tally.recorded += 1
            else:
                tally.repeated += 1
    if tally.unknown:
        logger.info("SMS receipts for unknown messages: %s", tally)
    return tally


# --- the callbacks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """How one provider's callback reads and how it is answered (``ok`` and ``error`` bodies)."""

    parse: Callable[[bytes], list[Receipt]]
    ok: Callable[[], dict]
    error: Callable[[str], dict]


PROVIDERS = {
    "aliyun": Provider(
        parse=aliyun_receipts_parse,
        ok=lambda: {"code": 0, "msg": "接收成功"},
        error=lambda message: {"code": 1, "msg": message},
    ),
    "tencent": Provider(
        parse=tencent_receipts_parse,
        ok=lambda: {"result": 0, "errmsg": "OK"},
        error=lambda message: {"result": 1, "errmsg": message},
    ),
}


def _token_valid(request: HttpRequest, token: str) -> bool:
    given = token or request.headers.get("X-Sms-Receipt-Token", "")
    secret = settings.SMS_RECEIPT_TOKEN
    return bool(given) and hmac.compare_digest(given.encode(), secret.encode())


def sms_receipts_take(*, provider: str, body: bytes, now: datetime.datetime) -> ReceiptTally:
    """Parse, check and record one provider call; raise ``ReceiptError`` when it is refused."""
    receipts = PROVIDERS[provider].parse(body)
    receipts_fresh_check(receipts, now=now)
    tally = sms_receipts_record(receipts=receipts, now=now)
    if tally.not_yet:
        raise ReceiptError(ERROR_NOT_RECORDED_YET % {"count": tally.not_yet}, status=503)
    return tally


@nul_allowed
@csrf_exempt
@login_not_required
@require_POST
@address_rate_limited("SMS_RECEIPT_RATE_PER_MINUTE", group="public.sms-receipts")
def sms_receipts(request: HttpRequest, provider: str, token: str = "") -> JsonResponse:
    """Take one call of delivery reports from Aliyun or Tencent Cloud SMS."""
    answer = PROVIDERS[provider]
    if not settings.SMS_RECEIPT_TOKEN:
        return JsonResponse(answer.error(str(ERROR_NOT_CONFIGURED)), status=503)
    if not _token_valid(request, token):
        return JsonResponse(answer.error(str(ERROR_FORBIDDEN)), status=403)
    try:
        tally = sms_receipts_take(provider=provider, body=request.body, now=timezone.now())
    except ReceiptError as exc:
        return JsonResponse(answer.error(str(exc)), status=exc.status)
    return JsonResponse({**answer.ok(), "recorded": tally.recorded, "repeated": tally.repeated})
