"""Campaign pages: the list, the editor, one campaign with its live progress, and its report."""

import re

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns import charts, composer, selectors
from campaigns.channels import channel_choices, channels_all
from campaigns.forms import ScheduleForm, TestSendForm
from campaigns.history import history_row
from campaigns.models import Campaign, Channel, Send, Variant
from campaigns.preview_frame import preview_html_url
from campaigns.results import campaign_results, campaign_tracking_timeline
from campaigns.services import workflow
from campaigns.services.content import (
    CompiledContent,
    ContentError,
    content_check,
    message_render,
)
from campaigns.services.traits import content_warnings
from campaigns.services.workflow import EDITABLE
from campaigns.shortlinks import SmsAsSent, sms_as_sent
from campaigns.sms_text import sms_signature
from core.charts import figure_html
from core.masking import address_masked, contact_visible
from core.roles import ALL_ROLES, CAMPAIGN_MANAGER, require_role
from profiles.audit import audit_access_many
from profiles.models import Profile

S = Campaign.Status
ENGAGEMENT_RATES = ("open_rate", "click_rate")
POLLING_STATUSES = (S.SCHEDULED, S.SENDING)


def _read(request) -> None:
    require_role(request.user, *ALL_ROLES)


def _manage(request) -> None:
    require_role(request.user, CAMPAIGN_MANAGER)


def _errors_text(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [message for messages_ in exc.message_dict.values() for message in messages_]
    return exc.messages


def index(request):
    """List the campaigns with status, channel, audience, schedule and progress."""
    _read(request)
    status = request.GET.get("status", "")
    channel = request.GET.get("channel", "")
    return render(
        request,
        "campaigns/list.html",
        {
            "campaigns": selectors.campaigns_all(status=status, channel=channel),
            "statuses": S.choices,
            "channels": channel_choices(),
            "status": status,
            "channel": channel,
        },
    )


def detail(request, slug: str):
    """Show one campaign: content, audience, the live progress, actions and history."""
    _read(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "variants": list(campaign.variants.all()),
            "progress": selectors.campaign_status_counts(campaign=campaign),
            "polling": campaign.status in POLLING_STATUSES,
            "changes": [history_row(c) for c in selectors.campaign_changes(campaign=campaign)],
            "schedule_form": ScheduleForm(),
            "test_form": TestSendForm(campaign=campaign),
            "can_pick_winner": _can_pick_winner(campaign),
            "halt_reason": selectors.campaign_halt_reason(campaign=campaign),
            "warnings": content_warnings(campaign=campaign) if campaign.status in EDITABLE else [],
        },
    )


def _can_pick_winner(campaign: Campaign) -> bool:
    return (
        campaign.winner_mode == Campaign.WinnerMode.TEST_THEN_WINNER
        and campaign.winner_id is None
        and campaign.status in (S.SENDING, S.PAUSED)
    )


def progress(request, slug: str):
    """Return the progress fragment (htmx polls it every 2 s while the campaign runs)."""
    _read(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    return render(
        request,
        "campaigns/_progress.html",
        {
            "campaign": campaign,
            "progress": selectors.campaign_status_counts(campaign=campaign),
            "polling": campaign.status in POLLING_STATUSES,
        },
    )


def _failures_shown(request, failures: list[dict]) -> None:
    """Mask the failed rows' addresses (in their errors too) unless the user is a consent admin,
    who sees them in full, recorded in the audit trail."""
    if contact_visible(request.user):
        audit_access_many(request, [row["profile_id"] for row in failures])
        return
    for row in failures:
        address = row["address"]
        if address:
            masked = address_masked(address)
            row["error"] = re.sub(re.escape(address), masked, row["error"], flags=re.IGNORECASE)
            row["address"] = masked


def report(request, slug: str):
    """Show the delivery report: counts by status and variant, skip reasons, failures, timing."""
    _read(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    data = selectors.campaign_report(campaign=campaign)
    _failures_shown(request, data["failures"])
    title = (
        _("Messages sent per minute") if data["bucket"] == "minute" else _("Messages sent per hour")
    )
    chart = (
        figure_html(
            charts.sends_over_time_figure(
                data["timeline"], title=title, label=_("Sent"), bucket=data["bucket"]
            )
        )
        if data["timeline"]
        else ""
    )
    return render(
        request,
        "campaigns/report.html",
        {
            "campaign": campaign,
            "report": data,
            "progress": selectors.campaign_status_counts(campaign=campaign),
            "statuses": [(value, label) for value, label in Send.Status.choices],
            "chart": chart,
        },
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _interval(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{100 * low:.1f}% – {100 * high:.1f}%"


def _p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _shown(rate, *, tracked: bool = True) -> dict:
    if not tracked:
        return {"rate": _("not tracked"), "ci": "", "untracked": True}
    return {"rate": _percent(rate.rate), "ci": _interval(rate.low, rate.high)}


def _results_table(
    variants: list[dict], rates: dict, *, tracked: bool, clicks_tracked: bool
) -> list[dict]:
    """Return the variant rows with their rates and tests against the control as shown.

    Without ``tracked`` engagement (SMS), the open rate reads "not tracked", and so does the
    click rate without ``clicks_tracked``.
    """
    measured = {
        metric: metric not in ENGAGEMENT_RATES
        or (clicks_tracked if metric == "click_rate" else tracked)
        for metric in rates
    }
    return [
        {
            **row,
            "shown": {metric: _shown(row[metric], tracked=measured[metric]) for metric in rates},
            "tests": {
                metric: {
                    "p": _p_value(test["p"]) if test else "—",
                    "significant": bool(test and test["significant"]),
                }
                for metric, test in row["vs_control"].items()
            },
        }
        for row in variants
    ]


def _lift_shown(lift: dict | None) -> dict | None:
    return lift and {
        "treatment": _percent(lift["treatment_rate"]),
        "control": _percent(lift["control_rate"]),
        "difference": _percent(lift["difference"]),
        "difference_ci": _interval(lift["difference_low"], lift["difference_high"]),
        "relative": _percent(lift["relative"]),
        "relative_ci": _interval(lift["relative_low"], lift["relative_high"]),
        "p": _p_value(lift["p"]),
        "significant": lift["p"] is not None and lift["p"] < 0.05,
    }


def _results_charts(campaign: Campaign, variants: list[dict], rates: dict) -> dict:
    """Return the HTML of the rates-by-variant chart ("" without variants) and of the timeline."""
    rows = [
        {"key": row["key"], **{metric: row[metric].as_dict() for metric in rates}}
        for row in variants
    ]
    timeline = campaign_tracking_timeline(campaign=campaign)
    return {
        "rates_chart": figure_html(
            charts.variant_rates_figure(
                rows,
                # xgettext:no-python-format
                title=_("Rates by variant (95% confidence interval)"),
                labels=rates,
            )
        )
        if rows
        else "",
        "timeline_chart": figure_html(
            charts.tracking_timeline_figure(
                timeline,
                title=_("Opens and clicks per hour"),
                labels={"open": _("Opens"), "click": _("Clicks")},
            )
        ),
    }


def _sms_delivery_shown(delivery: dict | None) -> dict | None:
    """Return the SMS receipts as the results page shows them: rates with intervals."""
    if delivery is None:
        return None

    def shown(row: dict) -> dict:
        return {**row, "delivered_shown": _shown(row["delivered_rate"]),
                "failed_shown": _shown(row["failed_rate"])}  # fmt: skip

    return {
        "variants": [shown(row) for row in delivery["variants"]],
        "total": shown(delivery["total"]),
        "failures": [
            {**failure, "share_shown": _percent(failure["share"])}
            for failure in delivery["failures"]
        ],
    }


def results(request, slug: str):
    """Show the results: per-variant rates with intervals, significance, SRM, lift, winner."""
    _read(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    data = campaign_results(campaign=campaign)
    rates = {
        "open_rate": _("Open rate"),
        "click_rate": _("Click rate"),
        "conversion_rate": _("Conversion rate"),
    }
    srm = data["srm"]
    srm_shown = srm and {
        **srm,
        "p_shown": _p_value(srm["p"]),
        "chi2": f"{srm['chi2']:.2f}",
        "alpha": f"{data['srm_alpha']:g}",
    }
    return render(
        request,
        "campaigns/results.html",
        {
            "campaign": campaign,
            "results": data,
            "table": _results_table(
                data["variants"],
                rates,
                tracked=data["engagement_tracked"],
                clicks_tracked=data["clicks_tracked"],
            ),
            "rates": rates,
            "holdout_rate": _shown(data["holdout"]["conversion_rate"]),
            "sms_delivery": _sms_delivery_shown(data["sms_delivery"]),
            "lift": _lift_shown(data["lift"]),
            "srm": srm_shown,
            "decision": campaign.winner_decision,
            **_results_charts(
                campaign,
                data["variants"],
                {
                    k: v
                    for k, v in rates.items()
                    if k not in ENGAGEMENT_RATES
                    or (data["clicks_tracked"] if k == "click_rate" else data["engagement_tracked"])
                },
            ),
        },
    )


@require_POST
def sms_length(request):
    """Return the length and parts of the posted text as it will go out (htmx)."""
    _read(request)
    text = next((v for k, v in request.POST.items() if k.endswith("body_text")), "")
    marketing = request.POST.get("purpose", "marketing") == "marketing"
    shown = _sms_shown(sms_as_sent(text, marketing=marketing))
    return render(request, "campaigns/_sms_length.html", shown)


def _sms_shown(sent: SmsAsSent) -> dict:
    """Return what the SMS length line shows: the count, the signature, the suffix added."""
    return {
        "length": sent.count.length,
        "parts": sent.count.parts,
        "signature": sms_signature(),
        "suffix": settings.SMS_UNSUBSCRIBE_SUFFIX if sent.suffixed else "",
        "text": sent.text,
    }


@require_POST
def preview(request):
    """Render one posted variant for a chosen profile (or sample values), unsaved (htmx)."""
    _manage(request)
    channel = request.POST.get("channel") or Channel.EMAIL
    index = request.POST.get("preview_variant", "0")
    prefix = f"variants-{index if index.isdigit() else 0}-"
    fields = {f: request.POST.get(prefix + f, "") for f in ("subject", "body_text", "body_html")}
    external_id = request.POST.get("preview_external_id", "").strip()
    context = {"external_id": external_id, "channel": channel}
    spec = channels_all().get(channel)
    if spec is not None and spec.content:
        return composer.parts_preview(request, spec, prefix, context)
    errors = content_check(channel=channel, **fields)
    if errors:
        context["errors"] = list(errors.values())
        return render(request, "campaigns/_preview.html", context)
    campaign = Campaign(channel=channel, purpose=request.POST.get("purpose") or "marketing")
    variant = Variant(key="?", **fields)
    profile = None
    if external_id:
        profile = Profile.objects.filter(external_id=external_id).first()
        if profile is None:
            context["errors"] = [
                _("No profile has the external ID “%(external_id)s”.")
                % {"external_id": external_id}
            ]
            return render(request, "campaigns/_preview.html", context)
    try:
        if profile is None:
            rendered = CompiledContent(channel=channel, **fields).sample_render()
        else:
            rendered = message_render(campaign=campaign, variant=variant, profile=profile)
    except ContentError as exc:
        context["errors"] = list(exc.errors.values())
        return render(request, "campaigns/_preview.html", context)
    context.update(
        rendered=rendered,
        html_url=preview_html_url(user=request.user, html=rendered.html) if rendered.html else "",
        profile=profile,
    )
    if channel == Channel.SMS:
        sent = sms_as_sent(rendered.text, marketing=campaign.purpose == "marketing")
        context["sms"] = _sms_shown(sent)
    return render(request, "campaigns/_preview.html", context)


# --- status changes -----------------------------------------------------------------------------


def schedule(request, slug: str):
    """Schedule a draft at a date and time in a chosen time zone (campaign managers)."""
    _manage(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    form = ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workflow.campaign_schedule(
                campaign=campaign, send_at=form.cleaned_data["send_at_utc"], user=request.user
            )
        except ValidationError as exc:
            for message in _errors_text(exc):
                form.add_error(None, message)
        else:
            messages.success(request, _("The campaign is scheduled."))
            return redirect("campaigns:detail", slug=slug)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "campaigns/schedule.html", {"campaign": campaign, "form": form}, status=status
    )


def _action(request, slug: str, service, done: str):
    _manage(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    try:
        service(campaign=campaign, user=request.user)
    except ValidationError as exc:
        for message in _errors_text(exc):
            messages.error(request, message)
    else:
        messages.success(request, done)
    return redirect("campaigns:detail", slug=slug)


@require_POST
def pause(request, slug: str):
    """Pause a sending campaign (campaign managers)."""
    return _action(request, slug, workflow.campaign_pause, _("The campaign is paused."))


@require_POST
def resume(request, slug: str):
    """Resume a paused campaign (campaign managers)."""
    return _action(request, slug, workflow.campaign_resume, _("The campaign is sending again."))


@require_POST
def cancel(request, slug: str):
    """Cancel a campaign; what is still queued is skipped (campaign managers)."""
    return _action(request, slug, workflow.campaign_cancel, _("The campaign is cancelled."))


@require_POST
def unschedule(request, slug: str):
    """Take a scheduled campaign back to draft (campaign managers)."""
    return _action(request, slug, workflow.campaign_unschedule, _("The campaign is a draft again."))


@require_POST
def test_send(request, slug: str):
    """Send one message of a variant to a typed address or number (campaign managers)."""
    _manage(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    form = TestSendForm(request.POST, campaign=campaign)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect("campaigns:detail", slug=slug)
    variant = campaign.variants.get(key=form.cleaned_data["variant"])
    profile = None
    external_id = form.cleaned_data["external_id"].strip()
    if external_id:
        profile = Profile.objects.filter(external_id=external_id).first()
        if profile is None:
            messages.error(
                request,
                _("No profile has the external ID “%(external_id)s”.")
                % {"external_id": external_id},
            )
            return redirect("campaigns:detail", slug=slug)
    try:
        workflow.campaign_test_send(
            campaign=campaign,
            variant=variant,
            to=form.cleaned_data["to"],
            profile=profile,
            user=request.user,
        )
    except ValidationError as exc:
        for message in _errors_text(exc):
            messages.error(request, message)
    else:
        messages.success(
            request, _("A test message was sent to %(to)s.") % {"to": form.cleaned_data["to"]}
        )
    return redirect("campaigns:detail", slug=slug)


@require_POST
def winner(request, slug: str):
    """Make a variant the winner of a test-then-winner campaign (campaign managers)."""
    _manage(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    variant = get_object_or_404(Variant, campaign=campaign, key=request.POST.get("variant", ""))
    if not _can_pick_winner(campaign):
        messages.error(request, _("This campaign has no winner to pick."))
        return redirect("campaigns:detail", slug=slug)
    from campaigns.services.audience import campaign_winner_set

    queued = campaign_winner_set(campaign=campaign, variant=variant, user=request.user)
    messages.success(
        request,
        _("Variant %(key)s wins; %(count)s waiting messages are queued.")
        % {"key": variant.key, "count": queued},
    )
    return redirect("campaigns:detail", slug=slug)
