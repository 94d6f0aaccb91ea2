"""The audit trail of personal data, for consent admins: who viewed, changed, exported, erased."""

import datetime
from urllib.parse import urlencode

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from core.roles import CONSENT_ADMIN, require_role
from profiles.audit import KIND_BULK_EXPORT, KIND_ERASE, KIND_EXPORT, KIND_LIST, KIND_VIEW
from profiles.models import PrivacyRequest, Profile
from profiles.services.privacy import erased_external_id

PAGE_SIZE = 50
ACTIONS = [
    (KIND_VIEW, _("Viewed a profile")),
    (KIND_LIST, _("Saw a profile in a list")),
    (KIND_BULK_EXPORT, _("Downloaded a list")),
    (KIND_EXPORT, _("Exported personal data")),
    (KIND_ERASE, _("Erased personal data")),
    ("create", _("Created")),
    ("update", _("Changed")),
    ("delete", _("Deleted")),
]
_ACTION_CODES = {
    "create": LogEntry.Action.CREATE,
    "update": LogEntry.Action.UPDATE,
    "delete": LogEntry.Action.DELETE,
}
_ACTION_LABELS = dict(ACTIONS)
_ACCESS_KINDS = (KIND_VIEW, KIND_LIST, KIND_BULK_EXPORT)
_CODE_LABELS = {code: _ACTION_LABELS[name] for name, code in _ACTION_CODES.items()}


def _day_start(value: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))


def _profile_pk(value: str) -> int | None:
    """Return the profile an external ID names, trying the erased placeholder of it too."""
    candidates = [value, erased_external_id(value)]
    return Profile.objects.filter(external_id__in=candidates).values_list("pk", flat=True).first()


def _filtered(params) -> tuple:
    """Return the entries matching the filters in ``params``, and the cleaned filter values."""
    filters = {
        "actor": params.get("actor", "").strip(),
        "object": params.get("object", "").strip(),
        "action": params.get("action", ""),
        "date_from": params.get("date_from", "").strip(),
        "date_to": params.get("date_to", "").strip(),
    }
    entries = LogEntry.objects.all()
    if filters["actor"]:
        users = get_user_model().objects.filter(username__icontains=filters["actor"])
        entries = entries.filter(actor__in=users.values("pk"))
    if filters["object"]:
        pk = _profile_pk(filters["object"])
        if pk is None:
            entries = entries.none()
        else:
            profile_type = ContentType.objects.get_for_model(Profile)
            entries = entries.filter(
                Q(content_type=profile_type, object_id=pk) | Q(additional_data__profile_id=pk)
            )
    action = filters["action"]
    if action in _ACCESS_KINDS:
        entries = entries.filter(action=LogEntry.Action.ACCESS, additional_data__kind=action)
    elif action in (KIND_EXPORT, KIND_ERASE):
        privacy_type = ContentType.objects.get_for_model(PrivacyRequest)
        entries = entries.filter(
            content_type=privacy_type,
            action=LogEntry.Action.CREATE,
            additional_data__kind=action,
        )
    elif action in _ACTION_CODES:
        entries = entries.filter(action=_ACTION_CODES[action])
    else:
        filters["action"] = ""
    for key, lookup, shift in (("date_from", "gte", 0), ("date_to", "lt", 1)):
        day = parse_date(filters[key]) if filters[key] else None
        if day is None:
            filters[key] = ""
            continue
        start = _day_start(day + datetime.timedelta(days=shift))
        entries = entries.filter(**{f"timestamp__{lookup}": start})
    return entries, filters


def _summary(entry: LogEntry) -> str:
    """Return what happened, in words."""
    data = entry.additional_data or {}
    kind = data.get("kind")
    if entry.action == LogEntry.Action.ACCESS and kind == KIND_BULK_EXPORT:
        return _("Downloaded %(what)s: %(rows)s rows") % {
            "what": data.get("what", ""),
            "rows": data.get("rows", "?"),
        }
    if entry.action == LogEntry.Action.ACCESS:
        return _ACTION_LABELS.get(kind, _("Viewed a profile"))
    if entry.action == LogEntry.Action.CREATE and kind in (KIND_EXPORT, KIND_ERASE):
        return _ACTION_LABELS[kind]
    return f"{_CODE_LABELS.get(entry.action, '')} · {entry.content_type.name}"


def consent_audit(request):
    """List audit entries newest first, filtered, a page at a time (keyset on id)."""
    require_role(request.user, CONSENT_ADMIN)
    entries, filters = _filtered(request.GET)
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        before = None
    if before is not None:
        entries = entries.filter(pk__lt=before)
    page = list(entries.select_related("actor", "content_type").order_by("-pk")[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    profile_ids = {(e.additional_data or {}).get("profile_id") for e in page} - {None}
    external_ids = dict(Profile.objects.filter(pk__in=profile_ids).values_list("pk", "external_id"))
    rows = []
    for entry in page:
        profile_id = (entry.additional_data or {}).get("profile_id")
        rows.append(
            {
                "entry": entry,
                "summary": _summary(entry),
                "fields": ", ".join((entry.changes or {}).keys())
                if entry.action == LogEntry.Action.UPDATE
                else "",
                "profile_id": profile_id,
                "external_id": external_ids.get(profile_id),
            }
        )
    query = {key: value for key, value in filters.items() if value}
    next_url = "?" + urlencode({**query, "before": page[-1].pk}) if more else None
    return render(
        request,
        "profiles/audit.html",
        {"rows": rows, "filters": filters, "actions": ACTIONS, "next_url": next_url},
    )
