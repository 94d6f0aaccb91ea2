"""Segment pages: the list, one segment, the rule builder form, preview, export, evaluate."""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.exports import CSV
from core.fields import RULE_CHOICE, RULE_FIELDS
from core.masking import contact_visible
from core.roles import ALL_ROLES, OPS, require_role
from profiles.audit import audit_access_many
from profiles.models import Profile, ValueTier
from profiles.selectors import tags_all
from profiles.views.exports import export_answer
from segments import labels, rules, selectors
from segments.conditions import attributes, condition_kinds
from segments.explain import explain_lines, segment_explanation
from segments.forms import (
    SegmentForm,
    SegmentTagForm,
    StaticFilterForm,
    StaticUploadForm,
    rule_from_text,
)
from segments.insight_views import member_columns, size_history
from segments.models import Segment
from segments.rules import RuleError
from segments.sentence import rule_sentence_html
from segments.services import segment_preview, segment_queue, segment_save
from segments.static_lists import (
    ERROR_NOT_STATIC,
    report_summary,
    static_members_add_csv,
    static_members_add_filter,
    static_members_remove_all,
)
from segments.tags import segment_tag_bind


def index(request):
    """List the segments with their status, size and last run."""
    return render(request, "segments/list.html", {"segments": selectors.segments_all()})


def detail(request, slug: str):
    """Show one segment: its rule, status, members (sorted, paged), size over time and runs."""
    segment = get_object_or_404(Segment, slug=slug)
    sort, descending = selectors.member_sort_parse(request.GET.get("sort"))
    members = selectors.segment_members_sorted(
        segment=segment, sort=sort, descending=descending, page=request.GET.get("page") or 1
    )
    if contact_visible(request.user):  # contact data shown in full: the trail records whose
        audit_access_many(request, [row["profile_id"] for row in members])
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "runs": selectors.segment_runs(segment=segment, limit=20)[::-1],
            **size_history(segment),
            "rule_json": json.dumps(segment.rule, ensure_ascii=False, indent=2),
            "rule_sentence": rule_sentence_html(segment.rule) if segment.rule else "",
            "members": members,
            "member_columns": member_columns(sort, descending),
            "sort": f"{'-' if descending else ''}{sort}",
            "tag_form": SegmentTagForm(initial={"tag": segment.tag_id}),
            "tiers": ValueTier.choices,
            "tags": tags_all(),
        },
    )


def explain(request, slug: str):
    """Show why a profile (?external_id=…) is or is not in the segment, condition by condition."""
    require_role(request.user, *ALL_ROLES)
    segment = get_object_or_404(Segment, slug=slug)
    external_id = request.GET.get("external_id", "").strip()
    context = {"segment": segment, "external_id": external_id}
    if not external_id:
        return render(request, "segments/explain.html", context)
    profile = Profile.objects.filter(external_id=external_id).first()
    if profile is None:
        context["not_found"] = _("No profile has the external ID “%(external_id)s”.") % {
            "external_id": external_id
        }
        return render(request, "segments/explain.html", context, status=404)
    explanation = segment_explanation(segment=segment, profile=profile)
    context.update(
        {
            "explanation": explanation,
            "lines": explain_lines(explanation.tree) if explanation.tree else [],
        }
    )
    return render(request, "segments/explain.html", context)


# While a segment is in one of these, its page asks for its status every second.
WAITING_STATUSES = (Segment.Status.QUEUED, Segment.Status.EVALUATING)


def status(request, slug: str):
    """Return the segment's status line; polled by its page while an evaluation is pending.

    Once the evaluation has ended, the poll answers with ``HX-Refresh`` so that htmx reloads the
    page: its size, members, runs and chart then show the new result.
    """
    require_role(request.user, *ALL_ROLES)
    segment = get_object_or_404(Segment, slug=slug)
    response = render(request, "segments/_status.html", {"segment": segment})
    if request.headers.get("HX-Request") and segment.status not in WAITING_STATUSES:
        response["HX-Refresh"] = "true"
    return response


@require_POST
def evaluate(request, slug: str):
    """Queue an evaluation of the segment now (ops staff)."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug, kind=Segment.Kind.DYNAMIC)
    segment_queue(segment=segment, user=request.user)
    return redirect("segments:detail", slug=segment.slug)


@never_cache
def members_csv(request, slug: str):
    """Send the members as CSV (external_id, email, since, then name, phone, city, tier, last
    seen), as ``/exports/segment-members.csv?segment=<slug>`` does (ops staff)."""
    require_role(request.user, OPS)
    get_object_or_404(Segment, slug=slug)
    return export_answer(request, kind="segment-members", fmt=CSV, query={"segment": slug})


def _builder_choices() -> dict:
    """Return what the rule builder offers: attributes with their operators, tags, events …

    Every name comes with its label in the page's language; the builder shows the label and
    keeps the raw name (the JSON's) as the tooltip.
    """
    choices_of = {  # the profile fields with choices, as the catalogue lists them
        name: Profile._meta.get_field(name).choices
        for name, family in RULE_FIELDS.items()
        if family == RULE_CHOICE
    }
    events = selectors.event_names()
    return {
        "attributes": [
            {
                "name": name,
                "label": labels.attribute_label(name),
                "type": vtype.name,
                "ops": list(vtype.ops),
                "choices": [[value, str(label)] for value, label in choices_of.get(name, ())],
            }
            for name, vtype in rules.attribute_types().items()
        ],
        "trait": {"type": rules.TRAIT.name, "ops": list(rules.TRAIT.ops)},
        "shapes": rules.OPERATORS,
        "op_labels": {op: str(label) for op, label in labels.OPERATOR_LABELS.items()},
        "aggregate_ops": list(rules.AGGREGATE_OPS),
        "aggregate_labels": {op: str(label) for op, label in labels.AGGREGATE_LABELS.items()},
        "tag_ops": list(rules.TAG_OPS),
        "tags": [{"slug": tag.slug, "label": tag.label} for tag in tags_all()],
        "events": events,
        "event_labels": {
            name: labels.event_label(name) for name in {*events, *labels.EVENT_LABELS}
        },
        "cities": selectors.profile_cities(),
        "suggestions": _suggestions(),
        "consent": {
            "channels": [[key, str(label)] for key, label in labels.CONSENT_CHANNEL_LABELS.items()],
            "ops": [[op, str(label)] for op, label in labels.CONSENT_OP_LABELS.items()],
        },
        "segments": selectors.segment_slugs(),
        "labels": _builder_labels(),
        # what the kinds other apps register offer (e.g. "message" from campaigns), by key
        "kinds": {key: kind.builder() for key, kind in condition_kinds().items() if kind.builder},
    }


def _suggestions() -> dict[str, list[list[str]]]:
    """Return the values offered for attributes, by name: the stored cities and regions, and
    what registered attributes suggest (the clusters)."""
    found = {
        "city": [[city, city] for city in selectors.profile_cities()],
        "region": [[region, region] for region in selectors.profile_regions()],
    }
    for name, attribute in attributes().items():
        if attribute.suggestions is not None:
            found[name] = [[value, str(label)] for value, label in attribute.suggestions()]
    return found


def _builder_labels() -> dict:
    return {
        "all": _("All of (AND)"),
        "any": _("Any of (OR)"),
        "not": _("Not"),
        "attr": _("Attribute"),
        "tag": _("Tag"),
        "event_count": _("Event count"),
        "event_sum": _("Event amount sum"),
        "segment": _("In segment"),
        "consent": _("Consent"),
        "stage": _("Journey stage"),
        "other": _("Other condition"),
        "add_condition": _("+ Condition"),
        "add_group": _("+ Group"),
        "remove": _("Remove"),
        "negate": _("Negate"),
        "unnegate": _("Remove “not”"),
        "trait": _("Trait (traits.<key>)"),
        "trait_key": _("trait key"),
        "event_name": _("event name"),
        "within_days": _("in the last … days"),
        "where": _("where"),
        "add_property": _("+ Property"),
        "property_name": _("property"),
        "property_value": _("value"),
        "days": _("days"),
        "list_hint": _("values separated by commas"),
        "low": _("from"),
        "high": _("to"),
        "read_only": _("shown as is (edit it in the JSON)"),
        "has": _("has"),
        "has_not": _("has not"),
    }


def _form_page(request, form: SegmentForm, segment: Segment | None = None, status: int = 200):
    return render(
        request,
        "segments/form.html",
        {"form": form, "segment": segment, "builder_choices": _builder_choices()},
        status=status,
    )


def segment_create(request):
    """Create a segment with the rule builder (ops staff); ``?rule=…&name=…`` pre-fill it.

    Other pages link here with a rule to start from (a dashboard cell, a cluster); it is only
    the form's initial text: saving checks it like any typed rule.
    """
    require_role(request.user, OPS)
    initial = {key: request.GET[key] for key in ("name", "rule") if request.GET.get(key)}
    form = SegmentForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            segment = segment_save(data=form.cleaned_data, tree=form.rule_tree, user=request.user)
            return redirect("segments:detail", slug=segment.slug)
        return _form_page(request, form, status=400)
    return _form_page(request, form)


def segment_edit(request, slug: str):
    """Edit a segment's definition with the rule builder (ops staff)."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug)
    form = SegmentForm(request.POST or None, segment=segment)
    if request.method == "POST":
        if form.is_valid():
            segment = segment_save(
                segment=segment, data=form.cleaned_data, tree=form.rule_tree, user=request.user
            )
            return redirect("segments:detail", slug=segment.slug)
        return _form_page(request, form, segment, status=400)
    return _form_page(request, form, segment)


@require_POST
def preview(request):
    """Return the fragment with how many profiles the rule selects and a few of them (htmx)."""
    require_role(request.user, OPS)
    context = {}
    try:
        rule = rule_from_text(request.POST.get("rule", "").strip() or "{}")
        slug = request.POST.get("segment") or request.POST.get("slug") or None
        context["preview"] = segment_preview(rule=rule, slug=slug)
        context["sentence"] = rule_sentence_html(rule)
    except (ValueError, RuleError) as error:  # RuleError is a ValueError; both shown as is
        context["error"] = str(error)
    return render(request, "segments/_preview.html", context)


def _static_segment(request, slug: str) -> Segment | None:
    """Return the static segment ``slug`` (ops staff), or None after saying why it is refused."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug)
    if segment.kind != Segment.Kind.STATIC:
        messages.error(request, ERROR_NOT_STATIC.format(name=segment.name or segment.slug))
        return None
    return segment


def _form_errors(form: forms.Form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@require_POST
def static_upload(request, slug: str):
    """Add the profiles of an uploaded CSV of external IDs to a static segment (ops staff)."""
    segment = _static_segment(request, slug)
    if segment is None:
        return redirect("segments:detail", slug=slug)
    form = StaticUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("segments:detail", slug=slug)
    try:
        report = static_members_add_csv(segment=segment, stream=form.cleaned_data["file"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("segments:detail", slug=slug)
    messages.success(request, report_summary(report))
    for error in report.errors:
        messages.warning(
            request,
            _("Line %(line)s (“%(id)s”): %(message)s")
            % {"line": error.line, "id": error.external_id, "message": error.message},
        )
    if report.error_count > len(report.errors):
        messages.warning(
            request,
            _("… and %(count)s more skipped rows.")
            % {"count": report.error_count - len(report.errors)},
        )
    return redirect("segments:detail", slug=slug)


@require_POST
def static_add_filter(request, slug: str):
    """Add the profiles the profile filters select now to a static segment (ops staff)."""
    segment = _static_segment(request, slug)
    if segment is None:
        return redirect("segments:detail", slug=slug)
    form = StaticFilterForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("segments:detail", slug=slug)
    data = {name: value.strip() for name, value in form.cleaned_data.items()}
    added = static_members_add_filter(
        segment=segment, query=data["q"], city=data["city"], tier=data["tier"], tag=data["tag"]
    )
    messages.success(request, _("Added %(count)s profiles to the list.") % {"count": added})
    return redirect("segments:detail", slug=slug)


@require_POST
def static_clear(request, slug: str):
    """Remove every profile from a static segment (ops staff)."""
    segment = _static_segment(request, slug)
    if segment is None:
        return redirect("segments:detail", slug=slug)
    removed = static_members_remove_all(segment=segment)
    messages.success(request, _("Removed %(count)s profiles from the list.") % {"count": removed})
    return redirect("segments:detail", slug=slug)


@require_POST
def tag_bind(request, slug: str):
    """Bind a tag to the segment, or unbind it, so members carry it as a rule tag (ops staff)."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug)
    form = SegmentTagForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("segments:detail", slug=slug)
    tag = form.cleaned_data["tag"]
    segment_tag_bind(segment=segment, tag=tag)
    if tag is None:
        messages.success(request, _("The segment no longer puts a tag on its members."))
    else:
        messages.success(
            request,
            _("Members of this segment now carry the tag “%(label)s”.") % {"label": tag.label},
        )
    return redirect("segments:detail", slug=slug)


def rule_builder_choices() -> dict:
    """Return what the rule builder offers, for other apps' pages that embed it (flows)."""
    return _builder_choices()
