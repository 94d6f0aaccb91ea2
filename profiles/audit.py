"""The audit trail of personal data: who viewed, changed, exported or erased it (django-auditlog).

What is recorded, as auditlog ``LogEntry`` rows:

- changes made through the ORM's ``save()``/``delete()`` to ``Profile`` (its declared personal
  fields), ``ProfileTag``, ``ConsentRecord`` and ``PrivacyRequest``; a data-subject request
  (export or erasure) is the creation of a ``PrivacyRequest``, in the transaction that does it;
- views of a profile's 360° page, written by ``audit_access`` as auditlog's ``ACCESS`` action.

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

from auditlog.models import LogEntry
from auditlog.receivers import log_delete
from auditlog.registry import auditlog
from auditlog.signals import pre_log
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_delete, pre_save

from core.fields import DECLARED_FIELDS, PERSONAL_FIELDS
from profiles.models import ConsentRecord, PrivacyRequest, Profile, ProfileTag

KIND_VIEW = "view"
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


def audit_access(request, profile: Profile, *, kind: str = KIND_VIEW) -> LogEntry:
    """Record that the request's user looked at the profile's personal data (auditlog ACCESS)."""
    user = request.user if request.user.is_authenticated else None
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
