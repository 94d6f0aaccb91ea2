"""Segment pages: the list, one segment, the rule builder form, preview, export, evaluate."""

import csv
import json

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.roles import OPS, require_role
from profiles.charts import figure_html
from profiles.models import Gender, ValueTier
from profiles.selectors import tags_all
from segments import charts, rules, selectors
from segments.forms import SegmentForm, rule_from_text
from segments.models import Segment
from segments.rules import RuleError
from segments.services import segment_preview, segment_queue, segment_save

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """Return a cell that spreadsheet programs will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def index(request):
    """List the segments with their status, size and last run."""
    return render(request, "segments/list.html", {"segments": selectors.segments_all()})


def detail(request, slug: str):
    """Show one segment: its rule, status, run history chart and latest runs."""
    segment = get_object_or_404(Segment, slug=slug)
    runs = selectors.segment_runs(segment=segment)
    chart = figure_html(
        charts.size_history_figure(runs, title=_("Size over time"), size_label=_("Members"))
    )
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "runs": list(reversed(runs))[:20],
            "chart": chart,
            "rule_json": json.dumps(segment.rule, ensure_ascii=False, indent=2),
            "members": selectors.segment_members_page(segment=segment),
        },
    )


@require_POST
def evaluate(request, slug: str):
    """Queue an evaluation of the segment now (ops staff)."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug, kind=Segment.Kind.DYNAMIC)
    segment_queue(segment=segment)
    return redirect("segments:detail", slug=segment.slug)


class _Echo:
    def write(self, value):
        return value


def members_csv(request, slug: str):
    """Stream the members as CSV (external_id, email, since), safe to open in a spreadsheet."""
    require_role(request.user, OPS)
    segment = get_object_or_404(Segment, slug=slug)
    writer = csv.writer(_Echo())
    header = [["external_id", "email", "since"]]
    rows = (
        [csv_safe(external_id), csv_safe(email), since.isoformat()]
        for external_id, email, since in selectors.segment_member_rows(segment=segment)
    )
    response = StreamingHttpResponse(
        (writer.writerow(row) for rows_ in (header, rows) for row in rows_),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-members.csv"'
    return response


def _builder_choices() -> dict:
    """Return what the rule builder offers: attributes with their operators, tags, events …"""
    choices_of = {"gender": Gender.choices, "value_tier": ValueTier.choices}
    return {
        "attributes": [
            {
                "name": name,
                "type": vtype.name,
                "ops": list(vtype.ops),
                "choices": [[value, str(label)] for value, label in choices_of.get(name, ())],
            }
            for name, vtype in rules.ATTRIBUTES.items()
        ],
        "trait": {"type": rules.TRAIT.name, "ops": list(rules.TRAIT.ops)},
        "shapes": rules.OPERATORS,
        "aggregate_ops": list(rules.AGGREGATE_OPS),
        "tag_ops": list(rules.TAG_OPS),
        "tags": [{"slug": tag.slug, "label": tag.label} for tag in tags_all()],
        "events": selectors.event_names(),
        "cities": selectors.profile_cities(),
        "segments": selectors.segment_slugs(),
        "labels": _builder_labels(),
    }


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
    """Create a segment with the rule builder (ops staff)."""
    require_role(request.user, OPS)
    form = SegmentForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            segment = segment_save(data=form.cleaned_data)
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
            segment = segment_save(segment=segment, data=form.cleaned_data)
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
    except (ValueError, RuleError) as error:  # RuleError is a ValueError; both shown as is
        context["error"] = str(error)
    return render(request, "segments/_preview.html", context)
