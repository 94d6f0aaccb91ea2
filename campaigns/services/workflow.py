"""The campaign workflow: create and edit, schedule, pause, resume, cancel, and test sends.

Every status change is a compare-and-set update on ``status``, so two people (or a person and the
beat tick) never both win a transition, and each one is recorded as a CampaignChange. Content is
editable while the campaign is a draft or scheduled; once sending starts it is frozen.

Variant weights are relative shares of the audience left after the holdout: with a 10% holdout
and weights 50/50 each variant gets 45% of the audience.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from campaigns.channels import channel_get
from campaigns.models import Campaign, CampaignChange, Channel, Send, Variant
from campaigns.services.channel_content import field_label, variant_errors
from campaigns.services.content import (
    CompiledContent,
    ContentError,
    message_render,
)
from campaigns.services.sender import from_email_check
from campaigns.services.test_send import ERROR_TEST_FAILED, parted_test_send
from core.errors import coded
from segments.models import Segment

S = Campaign.Status

ERROR_NOT_EDITABLE = coded(
    "campaign.not_editable",
    gettext_noop("Only a draft or scheduled campaign can be edited; this one is {status}."),
)
ERROR_TRANSITION = coded(
    "campaign.transition", gettext_noop("A {status} campaign cannot be {action}.")
)
ACTION_WORDS = {
    "scheduled": gettext_lazy("scheduled"),
    "unscheduled": gettext_lazy("taken back to draft"),
    "paused": gettext_lazy("paused"),
    "resumed": gettext_lazy("resumed"),
    "cancelled": gettext_lazy("cancelled"),
}
ERROR_SEND_AT_REQUIRED = coded("campaign.send_at_required", gettext_noop("Choose when to send."))
ERROR_SEND_AT_PAST = coded(
    "campaign.send_at_past", gettext_noop("The send time must be in the future.")
)
ERROR_NO_AUDIENCE = coded(
    "campaign.no_audience", gettext_noop("Choose at least one segment to send to.")
)
ERROR_NO_TRIGGER = coded(
    "campaign.no_trigger",
    gettext_noop("A triggered campaign needs a trigger segment or journey stage."),
)
ERROR_SEGMENT_BOTH = coded(
    "campaign.segment_both", gettext_noop("A segment cannot be both sent to and left out: {names}.")
)
ERROR_NO_VARIANTS = coded("campaign.no_variants", gettext_noop("Add at least one variant."))
ERROR_VARIANT_KEYS = coded("campaign.variant_keys", gettext_noop("Each variant needs its own key."))
ERROR_WEIGHT = coded("campaign.weight", gettext_noop("Each variant's weight must be at least 1."))
ERROR_HOLDOUT = coded(
    "campaign.holdout", gettext_noop("The holdout must be between 0 and 50 percent.")
)
ERROR_TEST_SHARE = coded(
    "campaign.test_share", gettext_noop("The test share must be between 1 and 100 percent.")
)
ERROR_WINNER_TWO_VARIANTS = coded(
    "campaign.winner_two_variants",
    gettext_noop("Testing for a winner needs at least two variants."),
)
ERROR_VARIANT_CONTENT = coded("campaign.variant_content", gettext_noop("Variant {key}: {error}"))
ERROR_BAD_EMAIL = coded(
    "campaign.bad_email", gettext_noop("Enter a valid email address to send the test to.")
)
ERROR_BAD_PHONE = coded(
    "campaign.bad_phone",
    gettext_noop("Enter a valid phone number in international form, e.g. +8613800138000."),
)
ERROR_WRONG_VARIANT = coded(
    "campaign.wrong_variant", gettext_noop("This variant belongs to another campaign.")
)
ERROR_FLOW_STEP = gettext_lazy(
    "This campaign is a step of a flow: its flow sends it, not a schedule."
)

ACTION_CREATED = "created"
ACTION_UPDATED = "updated"
ACTION_SCHEDULED = "scheduled"
ACTION_PAUSED = "paused"
ACTION_RESUMED = "resumed"
ACTION_CANCELLED = "cancelled"
ACTION_TEST_SENT = "test_sent"

EDITABLE = (S.DRAFT, S.SCHEDULED)
# Pages of the campaigns section, which a campaign's slug must not hide.
RESERVED_SLUGS = ("new", "preview", "sms-length", "audience-size", "webhooks")
CANCELLABLE = (S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED)

CAMPAIGN_FIELDS = (
    "name",
    "slug",
    "description",
    "channel",
    "purpose",
    "kind",
    "trigger_segment",
    "trigger_stage",
    "holdout_percent",
    "winner_mode",
    "test_percent",
    "winner_delay_hours",
    "winner_metric",
    "winner_fallback",
    "from_email",
)
VARIANT_FIELDS = ("name", "weight", "subject", "body_text", "body_html", "fields")


class CampaignStateError(ValidationError):
    """The campaign is not in a status that allows this (a conflict, not bad input)."""


# --- helpers -----------------------------------------------------------------------------------


def _record(campaign: Campaign, user, action: str, detail: dict | None = None) -> CampaignChange:
    return CampaignChange.objects.create(
        campaign=campaign,
        user=user if user is not None and user.is_authenticated else None,
        action=action,
        detail=detail or {},
    )


def _unique_slug(name: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:80] or "campaign"
    taken = set(
        Campaign.objects.filter(slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    taken.update(RESERVED_SLUGS)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _status_label(status: str) -> str:
    return str(S(status).label).lower() if status in S.values else status


def _transition(
    campaign: Campaign, *, allowed: Iterable[str], to: str, action: str, **fields
) -> Campaign:
    """Move the campaign from one of ``allowed`` to ``to`` with a compare-and-set update."""
    allowed = tuple(allowed)
    done = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(
        status=to, updated_at=timezone.now(), **fields
    )
    campaign.refresh_from_db()
    if not done:
        raise CampaignStateError(
            _(ERROR_TRANSITION).format(
                status=_status_label(campaign.status), action=ACTION_WORDS.get(action, action)
            ),
            code="invalid_transition",
        )
    return campaign


def _segment_ids(values) -> list[int]:
    return [v.pk if isinstance(v, Segment) else int(v) for v in values or ()]


def _check_variants(campaign: Campaign, variants: list[dict], *, complete: bool) -> list[str]:
    errors = []
    if not variants:
        if complete:
            errors.append(_(ERROR_NO_VARIANTS))
        return errors
    keys = [v.get("key") or "" for v in variants]
    if len(set(keys)) != len(keys) or not all(keys):
        errors.append(_(ERROR_VARIANT_KEYS))
    if any(int(v.get("weight") or 0) < 1 for v in variants):
        errors.append(_(ERROR_WEIGHT))
    for v in variants:
        errors.extend(_variant_content_errors(campaign, v, complete=complete))
    testing = campaign.winner_mode == Campaign.WinnerMode.TEST_THEN_WINNER
    if complete and testing and len(variants) < 2:
        errors.append(_(ERROR_WINNER_TWO_VARIANTS))
    return errors


def _variant_content_errors(campaign: Campaign, variant: dict, *, complete: bool) -> list[str]:
    """Return the template errors of one variant's content, each prefixed with its key (and on
    a channel with parts, Variant.fields, with the part's label)."""
    spec = channel_get(campaign.channel)
    found = variant_errors(channel=campaign.channel, values=variant, complete=complete)
    if spec.content:
        found = {
            p: f"{field_label(spec, p.removeprefix('fields.'))}: {e}" for p, e in found.items()
        }
    key = variant.get("key") or "?"
    return [_(ERROR_VARIANT_CONTENT).format(key=key, error=error) for error in found.values()]


def _check_campaign(
    campaign: Campaign, *, include: list[int], exclude: list[int], complete: bool
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not 0 <= (campaign.holdout_percent or 0) <= 50:
        errors.setdefault("holdout_percent", []).append(_(ERROR_HOLDOUT))
    if not 1 <= (campaign.test_percent or 0) <= 100:
        errors.setdefault("test_percent", []).append(_(ERROR_TEST_SHARE))
    sender_error = from_email_check(campaign.from_email)
    if sender_error:
        errors.setdefault("from_email", []).append(sender_error)
    both = set(include) & set(exclude)
    if both:
        names = ", ".join(Segment.objects.filter(pk__in=both).values_list("name", flat=True))
        errors.setdefault("exclude_segments", []).append(_(ERROR_SEGMENT_BOTH).format(names=names))
    if complete:
        if campaign.kind == Campaign.Kind.ONE_OFF and not include:
            errors.setdefault("include_segments", []).append(_(ERROR_NO_AUDIENCE))
        if campaign.kind == Campaign.Kind.TRIGGERED and not (
            campaign.trigger_segment_id or campaign.trigger_stage
        ):
            errors.setdefault("trigger_segment", []).append(_(ERROR_NO_TRIGGER))
    return errors


def _variant_dicts(campaign: Campaign) -> list[dict]:
    return [
        {"key": v.key, **{f: getattr(v, f) for f in VARIANT_FIELDS}}
        for v in campaign.variants.all()
    ]


def _validate(campaign, *, include, exclude, variants, complete) -> None:
    errors = _check_campaign(campaign, include=include, exclude=exclude, complete=complete)
    variant_errors = _check_variants(campaign, variants, complete=complete)
    if variant_errors:
        errors["variants"] = variant_errors
    if errors:
        raise ValidationError(errors)


def _variants_save(campaign: Campaign, variants: list[dict]) -> None:
    """Make the campaign's variants exactly ``variants`` (by key)."""
    keys = [v["key"] for v in variants]
    campaign.variants.exclude(key__in=keys).delete()
    existing = {v.key: v for v in campaign.variants.all()}
    for data in variants:
        variant = existing.get(data["key"]) or Variant(campaign=campaign, key=data["key"])
        for field in VARIANT_FIELDS:
            if field in data:
                empty = {} if field == "fields" else ""
                setattr(variant, field, data[field] if data[field] is not None else empty)
        variant.save()


# --- create and edit ---------------------------------------------------------------------------


def campaign_create(*, data: dict, user) -> Campaign:
    """Create a draft campaign with its audience and variants from checked ``data``.

    Templates are checked now (syntax, unknown variables); an incomplete draft (no subject yet,
    no segment) may be saved and is completed before it is scheduled.
    """
    campaign = Campaign(created_by=user if user and user.is_authenticated else None)
    for field in CAMPAIGN_FIELDS:
        if field in data and data[field] is not None:
            setattr(campaign, field, data[field])
    campaign.slug = data.get("slug") or _unique_slug(campaign.name)
    include = _segment_ids(data.get("include_segments"))
    exclude = _segment_ids(data.get("exclude_segments"))
    variants = list(data.get("variants") or [])
    _validate(campaign, include=include, exclude=exclude, variants=variants, complete=False)
    campaign.full_clean(exclude=["winner", "created_by"])
    with transaction.atomic():
        campaign.save()
        campaign.include_segments.set(include)
        campaign.exclude_segments.set(exclude)
        _variants_save(campaign, variants)
        _record(campaign, user, ACTION_CREATED, {"name": campaign.name})
    return campaign


def campaign_update(*, campaign: Campaign, data: dict, user) -> Campaign:
    """Change a draft or scheduled campaign; ``variants``, if given, replace the current ones.

    A scheduled campaign must stay complete (it is checked as at scheduling).
    """
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in EDITABLE:
            raise CampaignStateError(
                _(ERROR_NOT_EDITABLE).format(status=_status_label(locked.status)),
                code="not_editable",
            )
        changed = _fields_apply(locked, data)
        if not locked.slug:
            locked.slug = _unique_slug(locked.name, exclude_pk=locked.pk)
        include, exclude, variants = _audience_and_variants(locked, data)
        complete = locked.status == S.SCHEDULED
        _validate(locked, include=include, exclude=exclude, variants=variants, complete=complete)
        if complete:
            _check_send_at(locked.send_at)
        locked.full_clean(exclude=["winner", "created_by"])
        locked.save()
        if data.get("include_segments") is not None:
            locked.include_segments.set(include)
            changed.append("include_segments")
        if data.get("exclude_segments") is not None:
            locked.exclude_segments.set(exclude)
            changed.append("exclude_segments")
        if data.get("variants") is not None:
            _variants_save(locked, variants)
            changed.append("variants")
        _record(locked, user, ACTION_UPDATED, {"fields": sorted(set(changed))})
    campaign.refresh_from_db()
    return campaign


def _fields_apply(campaign: Campaign, data: dict) -> list[str]:
    """Set the campaign fields given in ``data``; return the names of those whose value changed.

    A ``None`` leaves a field as it is, except ``trigger_segment``, which it clears.
    """
    changed = []
    for field in CAMPAIGN_FIELDS:
        if field in data and (data[field] is not None or field == "trigger_segment"):
            attname = "trigger_segment_id" if field == "trigger_segment" else field
            before = getattr(campaign, attname)
            value = data[field]
            if field == "trigger_segment" and isinstance(value, Segment):
                value = value.pk
            if before != value:
                changed.append(field)
            setattr(campaign, attname, value)
    return changed


def _audience_and_variants(campaign: Campaign, data: dict) -> tuple[list, list, list[dict]]:
    """Return the include and exclude segment ids and the variants: from ``data``, else current."""
    include = (
        _segment_ids(data["include_segments"])
        if data.get("include_segments") is not None
        else list(campaign.include_segments.values_list("pk", flat=True))
    )
    exclude = (
        _segment_ids(data["exclude_segments"])
        if data.get("exclude_segments") is not None
        else list(campaign.exclude_segments.values_list("pk", flat=True))
    )
    variants = (
        list(data["variants"]) if data.get("variants") is not None else _variant_dicts(campaign)
    )
    return include, exclude, variants


# --- status changes ----------------------------------------------------------------------------


def _check_send_at(send_at: dt.datetime | None) -> None:
    if send_at is None:
        raise ValidationError({"send_at": [_(ERROR_SEND_AT_REQUIRED)]})
    if timezone.is_naive(send_at):
        send_at = timezone.make_aware(send_at)
    if send_at <= timezone.now():
        raise ValidationError({"send_at": [_(ERROR_SEND_AT_PAST)]})


def campaign_schedule(*, campaign: Campaign, send_at: dt.datetime, user) -> Campaign:
    """Schedule a draft to be sent at ``send_at`` (aware; stored in UTC) after checking it all.

    The beat tick starts it when the time comes (campaigns.services.audience.campaign_start).
    """
    if send_at is not None and timezone.is_naive(send_at):
        send_at = timezone.make_aware(send_at)
    _check_startable(campaign, ACTION_SCHEDULED)
    _check_send_at(send_at)
    _check_complete(campaign)
    send_at = send_at.astimezone(dt.UTC)
    with transaction.atomic():
        _transition(
            campaign, allowed=[S.DRAFT], to=S.SCHEDULED, action=ACTION_SCHEDULED, send_at=send_at
        )
        _record(campaign, user, ACTION_SCHEDULED, {"send_at": send_at.isoformat()})
    return campaign


def _check_startable(campaign: Campaign, action: str) -> None:
    """Raise CampaignStateError unless the campaign is a draft that a schedule may start."""
    if campaign.kind == Campaign.Kind.FLOW:
        raise CampaignStateError(ERROR_FLOW_STEP, code="flow_step")
    if campaign.status != S.DRAFT:
        raise CampaignStateError(
            _(ERROR_TRANSITION).format(
                status=_status_label(campaign.status), action=ACTION_WORDS[action]
            ),
            code="invalid_transition",
        )


def _check_complete(campaign: Campaign) -> None:
    """Raise ValidationError unless the campaign has all it needs to be sent."""
    _validate(
        campaign,
        include=list(campaign.include_segments.values_list("pk", flat=True)),
        exclude=list(campaign.exclude_segments.values_list("pk", flat=True)),
        variants=_variant_dicts(campaign),
        complete=True,
    )


def campaign_send_now(*, campaign: Campaign, user) -> Campaign:
    """Schedule a draft for now after checking it all, and ask a worker to start it at once.

    The start is the tick's, as for any scheduled campaign (``campaign_start`` freezes the
    audience): it is queued when this transaction commits instead of waiting for beat.
    """
    from campaigns.tasks import campaigns_tick_task  # the tasks import the delivery package

    _check_startable(campaign, ACTION_SCHEDULED)
    _check_complete(campaign)
    now = timezone.now()
    with transaction.atomic():
        _transition(
            campaign, allowed=[S.DRAFT], to=S.SCHEDULED, action=ACTION_SCHEDULED, send_at=now
        )
        _record(campaign, user, ACTION_SCHEDULED, {"send_at": now.isoformat(), "now": True})
        transaction.on_commit(campaigns_tick_task.delay)
    return campaign


def campaign_unschedule(*, campaign: Campaign, user) -> Campaign:
    """Take a scheduled campaign back to draft (before the tick starts it)."""
    with transaction.atomic():
        _transition(campaign, allowed=[S.SCHEDULED], to=S.DRAFT, action="unscheduled")
        _record(campaign, user, "unscheduled")
    return campaign


def campaign_pause(*, campaign: Campaign, user) -> Campaign:
    """Pause a sending campaign: workers stop claiming its queued messages."""
    with transaction.atomic():
        _transition(campaign, allowed=[S.SENDING], to=S.PAUSED, action=ACTION_PAUSED)
        _record(campaign, user, ACTION_PAUSED)
    return campaign


def campaign_resume(*, campaign: Campaign, user) -> Campaign:
    """Resume a paused campaign where it stopped."""
    with transaction.atomic():
        _transition(campaign, allowed=[S.PAUSED], to=S.SENDING, action=ACTION_RESUMED)
        _record(campaign, user, ACTION_RESUMED)
    return campaign


def campaign_cancel(*, campaign: Campaign, user) -> Campaign:
    """Cancel a campaign; its queued and waiting messages are skipped as cancelled.

    Messages a worker has already claimed (``sending``) finish and are recorded as they end.
    """
    now = timezone.now()
    with transaction.atomic():
        _transition(
            campaign, allowed=CANCELLABLE, to=S.CANCELLED, action=ACTION_CANCELLED, finished_at=now
        )
        skipped = Send.objects.filter(
            campaign=campaign, status__in=[Send.Status.QUEUED, Send.Status.WAITING]
        ).update(status=Send.Status.SKIPPED, skip_reason=Send.SkipReason.CANCELLED)
        _record(campaign, user, ACTION_CANCELLED, {"skipped": skipped})
    return campaign


# --- test sends --------------------------------------------------------------------------------


def _phone_normalise(to: str) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(to, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError({"to": [_(ERROR_BAD_PHONE)]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def campaign_test_send(*, campaign: Campaign, variant: Variant, to: str, profile=None, user):
    """Send one rendered message of ``variant`` to a typed address or number (not the ledger).

    With ``profile`` the message is personalised for that profile, otherwise with sample values.
    Return the rendered message; raise ValidationError when it cannot be rendered or sent.
    """
    if variant.campaign_id != campaign.pk:
        raise ValidationError({"variant": [_(ERROR_WRONG_VARIANT)]})
    spec = channel_get(campaign.channel)
    if spec.content:  # a channel with content parts (WeChat, push …)
        rendered = parted_test_send(
            campaign=campaign, spec=spec, variant=variant, to=to, profile=profile
        )
        details = {"to": to, "variant": variant.key}
        _record(campaign, user, ACTION_TEST_SENT, {**details, "profile": _external_id(profile)})
        return rendered
    to = _test_recipient(campaign, to)
    rendered = _test_render(campaign, variant, profile)
    reference = f"test-{campaign.pk}-{variant.key}-{int(timezone.now().timestamp())}"
    if campaign.channel == Channel.EMAIL:
        _test_email_send(campaign, rendered, to, reference)
    else:
        _test_sms_send(rendered, to, reference, marketing=campaign.purpose == "marketing")
    _record(
        campaign,
        user,
        ACTION_TEST_SENT,
        {"to": to, "variant": variant.key, "profile": _external_id(profile)},
    )
    return rendered


def _external_id(profile) -> str:
    return getattr(profile, "external_id", "")


def _test_recipient(campaign: Campaign, to: str) -> str:
    """Return the checked email address, or the phone number in E.164, to send a test to."""
    to = (to or "").strip()
    if campaign.channel != Channel.EMAIL:
        return _phone_normalise(to)
    try:
        validate_email(to)
    except ValidationError:
        raise ValidationError({"to": [_(ERROR_BAD_EMAIL)]}) from None
    return to


def _test_render(campaign: Campaign, variant: Variant, profile):
    """Render ``variant`` for ``profile``, or with sample values; ValidationError if it fails."""
    try:
        if profile is not None:
            return message_render(campaign=campaign, variant=variant, profile=profile)
        compiled = CompiledContent(
            channel=campaign.channel,
            subject=variant.subject,
            body_text=variant.body_text,
            body_html=variant.body_html,
        )
        return compiled.sample_render()
    except ContentError as exc:
        raise ValidationError(exc.errors) from exc


def _test_email_send(campaign: Campaign, rendered, to: str, reference: str) -> None:
    message = EmailMultiAlternatives(
        subject=_("[Test] %(subject)s") % {"subject": rendered.subject},
        body=rendered.text or "",
        from_email=campaign.from_email or settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"X-Campaign-Test": reference},
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    try:
        message.send()
    except OSError as exc:
        raise ValidationError(_(ERROR_TEST_FAILED).format(error=exc)) from exc


def _test_sms_send(rendered, to: str, reference: str, *, marketing: bool) -> None:
    from campaigns.sms import SmsMessage, get_sms_backend
    from campaigns.sms_text import opt_out_add

    backend = get_sms_backend()
    backend.open()
    try:
        (result,) = backend.send_messages(
            [SmsMessage(to, opt_out_add(rendered.text, marketing=marketing), reference)]
        )
    finally:
        backend.close()
    if not result.ok:
        raise ValidationError(_(ERROR_TEST_FAILED).format(error=result.error))
