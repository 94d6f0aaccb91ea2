"""The audit trail of personal data: who viewed, changed, exported or erased it (django-auditlog).

What is recorded, as auditlog ``LogEntry`` rows:

- changes made through the ORM's ``save()``/``delete()`` to ``Profile`` (its declared personal
  fields), ``ProfileTag``, ``ConsentRecord`` and ``PrivacyRequest``; a data-subject request
  (export or erasure) is the creation of a ``PrivacyRequest``, in the transaction that does it;
- reads of personal data, as auditlog's ``ACCESS`` action with a ``kind``: a profile seen in
  full (``view``: its 360° page, its consent history, ``GET /api/v1/profiles/<id>/``), a profile
  seen in a list (``list``: every row of an API list of profiles, events, consents, scores,
  members or enrollments, through ``AuditedReads``; a screen that reveals full contact data),
  and a bulk download (``bulk_export``: one entry naming what was downloaded and how many rows,
  e.g. a segment's member CSV).

Bulk paths write no rows and stay as fast as before: ``bulk_create``, ``update()`` and COPY send
no model signals (imports, feature refreshes, the consent service, which keeps its own
append-only ledger with who, when and how). Removing a ``ProfileTag`` is not logged either: tag
sweeps delete millions of rows, and a delete listener would make Django load and signal each one.

An entry never holds a person's data, so that erasure leaves none behind: personal field values
are masked in the recorded changes (which fields changed is kept, not their values), and the
entry names its object by id. Each entry carries ``additional_data = {"profile_id": …, "kind":
…}``; the audit page shows the profile's *current* external ID, which after an erasure is the
placeholder.
"""

from contextvars import ContextVar

from auditlog.cid import get_cid
from auditlog.models import LogEntry
from auditlog.receivers import log_delete
from auditlog.registry import auditlog
from auditlog.signals import pre_log
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_delete, pre_save
from django.utils.cache import add_never_cache_headers

from core.fields import DECLARED_FIELDS, PERSONAL_FIELDS
from profiles.models import ConsentRecord, PrivacyRequest, Profile, ProfileTag

KIND_VIEW = "view"
KIND_LIST = "list"
KIND_BULK_EXPORT = "bulk_export"
KIND_EXPORT = PrivacyRequest.Kind.EXPORT.value
KIND_ERASE = PrivacyRequest.Kind.ERASE.value
MASK = "•••"

# Declared profile fields the trail tracks (computed features and timestamps are left out), and
# of those the personal ones: recorded as changed, never with their values.
PROFILE_FIELDS = list(DECLARED_FIELDS)
PROFILE_MASKED_FIELDS = list(PERSONAL_FIELDS)

# The instance whose entry auditlog is about to write, set by ``pre_log`` and read by ``pre_save``
# of that LogEntry (both run synchronously in the same call).
_pending: ContextVar = ContextVar("profiles_audit_pending", default=None)


def audit_mask(value: str) -> str:
    """Return a placeholder for a personal value: blank stays blank, anything else is hidden."""
    return "" if value in ("", "None", "{}") else MASK


def _describe(instance) -> dict:
    """Return the profile id and kind an entry about ``instance`` carries, and its actor."""
    if isinstance(instance, Profile):
        return {"profile_id": instance.pk, "repr": f"#{instance.pk}"}
    if isinstance(instance, PrivacyRequest):
        return {
            "profile_id": instance.profile_id,
            "kind": instance.kind,
            "repr": f"#{instance.pk} {instance.kind}",
            "actor_id": instance.requested_by_id,
        }
    if isinstance(instance, ConsentRecord):
        return {
            "profile_id": instance.profile_id,
            "repr": f"#{instance.pk} {instance.channel}/{instance.purpose} {instance.status}",
            "actor_id": instance.recorded_by_id,
        }
    if isinstance(instance, ProfileTag):
        return {
            "profile_id": instance.profile_id,
            "repr": f"#{instance.pk} tag {instance.tag_id}",
            "actor_id": instance.set_by_id,
        }
    return {}


def _remember(sender, instance, **kwargs):
    _pending.set(instance)


def _complete(sender, instance: LogEntry, **kwargs):
    """Give an automatic entry its profile id and kind, a neutral name, and a fallback actor."""
    pending = _pending.get()
    if pending is None or instance.pk is not None:
        return
    model = type(pending)
    if instance.content_type_id != ContentType.objects.get_for_model(model).pk or str(
        instance.object_pk
    ) != str(pending.pk):
        return
    _pending.set(None)
    described = _describe(pending)
    if not described:
        return
    extra = dict(instance.additional_data or {})
    if "profile_id" in extra:  # written by audit_access: already complete
        return
    extra["profile_id"] = described["profile_id"]
    if "kind" in described:
        extra["kind"] = described["kind"]
    instance.additional_data = extra
    instance.object_repr = described["repr"]
    if instance.actor_id is None and described.get("actor_id"):
        instance.actor_id = described["actor_id"]


def audit_register() -> None:
    """Register the audited models with auditlog; called once from ProfilesConfig.ready()."""
    auditlog.register(
        Profile,
        include_fields=PROFILE_FIELDS,
        mask_fields=PROFILE_MASKED_FIELDS,
        mask_callable="profiles.audit.audit_mask",
    )
    auditlog.register(
        ConsentRecord,
        mask_fields=["evidence_ip", "evidence_user_agent", "evidence", "reason"],
        mask_callable="profiles.audit.audit_mask",
    )
    auditlog.register(
        PrivacyRequest,
        mask_fields=["external_id", "reason"],
        mask_callable="profiles.audit.audit_mask",
    )
    auditlog.register(ProfileTag)
    # Tags: creations and changes only (see the module docstring). auditlog has no per-model
    # switch, so take its delete listener off again; tests check that tag deletes stay fast.
    post_delete.disconnect(
        sender=ProfileTag, dispatch_uid=auditlog._dispatch_uid(post_delete, log_delete)
    )
    for model in (Profile, ConsentRecord, PrivacyRequest, ProfileTag):
        pre_log.connect(_remember, sender=model, dispatch_uid=f"profiles.audit.{model.__name__}")
    pre_save.connect(_complete, sender=LogEntry, dispatch_uid="profiles.audit.complete")


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _actor(request):
    return request.user if request.user.is_authenticated else None


def audit_access(request, profile: Profile, *, kind: str = KIND_VIEW) -> LogEntry:
    """Record that the request's user looked at the profile's personal data (auditlog ACCESS)."""
    user = _actor(request)
    return LogEntry.objects.log_create(
        profile,
        force_log=True,
        action=LogEntry.Action.ACCESS,
        object_repr=f"#{profile.pk}",
        additional_data={"profile_id": profile.pk, "kind": kind},
        actor=user,
        actor_email=getattr(user, "email", None),
        remote_addr=_client_ip(request),
    )


def audit_access_many(request, profile_ids, *, kind: str = KIND_LIST) -> int:
    """Record, one ACCESS entry each, that the request showed these profiles; return how many."""
    ids = sorted({pk for pk in profile_ids if pk is not None})
    if not ids:
        return 0
    user = _actor(request)
    common = {
        "content_type": ContentType.objects.get_for_model(Profile),
        "action": LogEntry.Action.ACCESS,
        "actor": user,
        "actor_email": getattr(user, "email", None),
        "remote_addr": _client_ip(request),
        "cid": get_cid(),
    }
    LogEntry.objects.bulk_create(
        LogEntry(
            object_pk=str(pk),
            object_id=pk,
            object_repr=f"#{pk}",
            additional_data={"profile_id": pk, "kind": kind},
            **common,
        )
        for pk in ids
    )
    return len(ids)


def audit_bulk_export(request, source, *, what: str, rows: int) -> LogEntry:
    """Record that the request downloaded ``rows`` rows of personal data from ``source`` (the
    object it came from, e.g. a segment, or None for a list such as the filtered profiles),
    described by ``what``."""
    return audit_export_record(
        user=_actor(request), remote_addr=_client_ip(request), source=source, what=what, rows=rows
    )


def audit_export_record(*, user, remote_addr: str | None, source, what: str, rows: int):
    """Record that ``user`` exported ``rows`` rows from ``source`` (None: no one object; the
    entry is then filed under profiles), described by ``what``; return the entry."""
    data = {"kind": KIND_BULK_EXPORT, "what": what, "rows": rows}
    common = {
        "action": LogEntry.Action.ACCESS,
        "additional_data": data,
        "actor": user,
        "actor_email": getattr(user, "email", None),
        "remote_addr": remote_addr,
    }
    if source is not None:
        return LogEntry.objects.log_create(source, force_log=True, **common)
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Profile),
        object_pk="",
        object_repr=what[:200],
        cid=get_cid(),
        **common,
    )


class AuditedReads:
    """A mixin for API view sets: a GET that answers with a page records, in the audit trail,
    every profile the page showed (``audit_profile_attr`` of each object: its profile's id);
    every answer tells caches not to store it."""

    audit_profile_attr = "profile_id"

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self._audited_page = page
        return page

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        page = getattr(self, "_audited_page", None)
        if page is not None and request.method == "GET" and response.status_code == 200:
            attr = self.audit_profile_attr
            audit_access_many(request, [getattr(row, attr, None) for row in page])
        return response
