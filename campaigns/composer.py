"""The campaign composer: audience → content with variants → guards and schedule → review.

The first three steps are one form (``CampaignForm`` and the variants' formset) shown a step at
a time by ``static/js/composer.js`` (all at once without script), saved as a draft; the review
is a page of its own, about the saved draft, with the reachable audience counted by the send's
own code (``campaigns.reach``), "send now" and "schedule".
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns.channels.base import PARAMS, ChannelSpec
from campaigns.delivery.guards import quiet_hours
from campaigns.forms import STEP_FIELDS, CampaignForm, ScheduleForm, VariantFormSet
from campaigns.models import Campaign, Channel
from campaigns.part_fields import parts_values
from campaigns.reach import campaign_reach
from campaigns.services import workflow
from campaigns.services.audience import audience_of
from campaigns.services.channel_content import field_label, fields_check, fields_compile
from campaigns.services.content import ContentError, profile_context, sample_context
from campaigns.variables import variables_load
from core.roles import ALL_ROLES, CAMPAIGN_MANAGER, require_role
from profiles.models import Profile
from profiles.services.consent import consent_purposes

STEPS = (
    ("audience", gettext_lazy("Audience")),
    ("content", gettext_lazy("Content and variants")),
    ("guards", gettext_lazy("Guards and schedule")),
    ("review", gettext_lazy("Review")),
)
THEN_REVIEW = "review"


def _errors_text(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [message for messages_ in exc.message_dict.values() for message in messages_]
    return exc.messages


def _variant_initial(campaign: Campaign | None) -> list[dict]:
    if campaign is None:
        return [{"key": "A", "weight": 50}, {"key": "B", "weight": 50}]
    return [
        {
            f: getattr(v, f)
            for f in ("key", "name", "weight", "subject", "body_text", "body_html", "fields")
        }
        for v in campaign.variants.all()
    ]


def _guards_shown() -> dict:
    """Return the guards every send obeys that are set for the whole installation."""
    period = quiet_hours()
    return {
        "frequency_cap": settings.CAMPAIGN_FREQUENCY_CAP,
        "frequency_hours": settings.CAMPAIGN_FREQUENCY_WINDOW_HOURS,
        "quiet_hours": period and (period[0].strftime("%H:%M"), period[1].strftime("%H:%M")),
    }


def _save(request, form, formset, campaign: Campaign | None) -> Campaign | None:
    """Create or update the campaign from the valid forms; None (errors on the form) if refused."""
    data = {**form.cleaned_data, "variants": formset.variants()}
    try:
        if campaign is None:
            return workflow.campaign_create(data=data, user=request.user)
        return workflow.campaign_update(campaign=campaign, data=data, user=request.user)
    except ValidationError as exc:
        for message in _errors_text(exc):
            form.add_error(None, message)
    return None


def _editor(request, campaign: Campaign | None):
    channel = request.POST.get("channel") or (campaign.channel if campaign else Channel.EMAIL)
    form = CampaignForm(request.POST or None, campaign=campaign)
    formset = VariantFormSet(
        request.POST or None,
        initial=_variant_initial(campaign),
        prefix="variants",
        form_kwargs={"channel": channel},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid() and formset.is_valid():
            saved = _save(request, form, formset, campaign)
            if saved is not None:
                messages.success(request, _("The campaign was saved."))
                if request.POST.get("then") == THEN_REVIEW:
                    return redirect("campaigns:review", slug=saved.slug)
                return redirect("campaigns:detail", slug=saved.slug)
        status = 400
    step = request.GET.get("step", "")
    return render(
        request,
        "campaigns/form.html",
        {
            "form": form,
            "formset": formset,
            "campaign": campaign,
            "steps": STEPS,
            "step": step if step in dict(STEPS) else "audience",
            "guards": _guards_shown(),
            **{f"{name}_fields": form.step_fields(name) for name in STEP_FIELDS},
        },
        status=status,
    )


def campaign_create(request):
    """Compose a new campaign (campaign managers)."""
    require_role(request.user, CAMPAIGN_MANAGER)
    return _editor(request, None)


def campaign_edit(request, slug: str):
    """Edit a draft or scheduled campaign in the composer (campaign managers)."""
    require_role(request.user, CAMPAIGN_MANAGER)
    campaign = get_object_or_404(Campaign, slug=slug)
    if campaign.status not in workflow.EDITABLE:
        messages.error(
            request,
            _(workflow.ERROR_NOT_EDITABLE).format(status=campaign.get_status_display().lower()),
        )
        return redirect("campaigns:detail", slug=slug)
    return _editor(request, campaign)


def _variant_shares(campaign: Campaign) -> list[dict]:
    """Return the variants with the share of the whole audience each one gets, in percent."""
    variants = list(campaign.variants.all())
    total = sum(v.weight for v in variants) or 1
    sent_share = 100 - campaign.holdout_percent
    return [{"variant": v, "share": round(sent_share * v.weight / total, 1)} for v in variants]


def review(request, slug: str):
    """Show a campaign as it will be sent: every step's choices and the reachable audience."""
    require_role(request.user, *ALL_ROLES)
    campaign = get_object_or_404(Campaign.objects.exclude(kind=Campaign.Kind.FLOW), slug=slug)
    return render(
        request,
        "campaigns/review.html",
        {
            "campaign": campaign,
            "steps": STEPS,
            "step": "review",
            "include": campaign.include_segments.order_by("name"),
            "exclude": campaign.exclude_segments.order_by("name"),
            "variants": _variant_shares(campaign),
            "purpose": dict(consent_purposes()).get(campaign.purpose, campaign.purpose),
            "guards": _guards_shown(),
            "schedule_form": ScheduleForm(),
        },
    )


def reach(request, slug: str):
    """Return the reachable audience fragment (htmx; counted over the whole audience)."""
    require_role(request.user, *ALL_ROLES)
    campaign = get_object_or_404(Campaign.objects.exclude(kind=Campaign.Kind.FLOW), slug=slug)
    return render(
        request,
        "campaigns/_reach.html",
        {"campaign": campaign, "reach": campaign_reach(campaign=campaign)},
    )


def _ids(values: list[str]) -> list[int]:
    return [int(value) for value in values if value.isdigit()]


@require_POST
def audience_size(request):
    """Return how many profiles the ticked segments hold, less those left out (htmx)."""
    require_role(request.user, CAMPAIGN_MANAGER)
    include = _ids(request.POST.getlist("include_segments"))
    exclude = _ids(request.POST.getlist("exclude_segments"))
    members = audience_of(include=include, exclude=exclude).count() if include else 0
    return render(
        request, "campaigns/_audience_size.html", {"members": members, "picked": bool(include)}
    )


@require_POST
def send_now(request, slug: str):
    """Start a complete draft now (campaign managers)."""
    require_role(request.user, CAMPAIGN_MANAGER)
    campaign = get_object_or_404(Campaign, slug=slug)
    try:
        workflow.campaign_send_now(campaign=campaign, user=request.user)
    except ValidationError as exc:
        for message in _errors_text(exc):
            messages.error(request, message)
        return redirect("campaigns:review", slug=slug)
    messages.success(request, _("The campaign is starting now."))
    return redirect("campaigns:detail", slug=slug)


def parts_preview(request, spec: ChannelSpec, prefix: str, context: dict):
    """Render the posted parts of one variant on a parted channel (the preview's htmx answer),
    with sample values or as the profile whose external id was typed."""
    values, errors = parts_values(spec, lambda name: request.POST.get(prefix + name, ""))
    errors = {**fields_check(spec, values, complete=False), **errors}
    external_id = context["external_id"]
    profile = Profile.objects.filter(external_id=external_id).first() if external_id else None
    if external_id and profile is None:
        context["errors"] = [
            _("No profile has the external ID “%(external_id)s”.") % {"external_id": external_id}
        ]
    elif errors:
        context["errors"] = [f"{field_label(spec, k)}: {e}" for k, e in errors.items()]
    else:
        try:
            context.update(parts=_parts_rendered(spec, values, profile), profile=profile)
        except ContentError as exc:
            context["errors"] = [f"{field_label(spec, k)}: {e}" for k, e in exc.errors.items()]
    return render(request, "campaigns/_preview.html", context)


def _parts_rendered(spec: ChannelSpec, values: dict, profile: Profile | None) -> list[dict]:
    """Return each filled part rendered: label, name, and value (params: (name, value) pairs)."""
    compiled = fields_compile(spec, values)
    if profile is None:
        rendered = compiled.sample_render()
    else:
        context = {**sample_context(), **profile_context(profile)}
        context.update(variables_load(compiled.variables, [profile.pk])[profile.pk])
        rendered = compiled.render(context)
    parts = []
    for part in spec.content:
        value = rendered.get(part.name)
        if value in (None, "", {}):
            continue
        pairs = list(value.items()) if part.kind == PARAMS else None
        parts.append({"name": part.name, "label": part.label, "value": value, "pairs": pairs})
    return parts
