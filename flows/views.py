"""Flow pages: the list, a new flow, the editor (settings, the step tree, going live) and the
profiles behind a step's count. The step edits themselves are in ``flows.step_views``."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.roles import ALL_ROLES, CAMPAIGN_MANAGER, require_role, user_has_role
from flows import selectors, services
from flows.definition import FlowError
from flows.describe import (
    KIND_LABELS,
    exit_words,
    goal_words,
    reentry_words,
    rule_words,
    step_words,
    trigger_words,
)
from flows.editor import Open, errors_summary, kinds, tree_build
from flows.forms import SETTING_FIELDS, FlowCreateForm, SettingsForm, errors_add
from flows.models import Flow
from flows.tree import PlacedErrors, TreeError, errors_place, step_get
from segments.views import rule_builder_choices

S = Flow.Status
PAGE_SIZE = 50
WHICH_LABELS = {
    "entered": gettext_lazy("Entered"),
    "waiting": gettext_lazy("Waiting here now"),
    "passed": gettext_lazy("Passed"),
    "exited": gettext_lazy("Exited here"),
    "converted": gettext_lazy("Converted"),
}


def read_check(request) -> None:
    require_role(request.user, *ALL_ROLES)


def edit_check(request) -> None:
    require_role(request.user, CAMPAIGN_MANAGER)


def can_edit(request, flow: Flow) -> bool:
    return flow.status != S.ARCHIVED and user_has_role(request.user, CAMPAIGN_MANAGER)


def flow_list(request):
    """List the flows: name, status, trigger in words, how many entered and are in it now."""
    read_check(request)
    flows = selectors.flows_all()
    for flow in flows:
        flow.trigger_words = trigger_words((flow.definition or {}).get("trigger"))
    return render(
        request,
        "flows/list.html",
        {"flows": flows, "can_create": user_has_role(request.user, CAMPAIGN_MANAGER)},
    )


def flow_create(request):
    """Start a new draft flow: its name, slug, description and trigger (campaign managers)."""
    edit_check(request)
    form = FlowCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                flow = services.flow_create(
                    name=data["name"],
                    slug=data["slug"],
                    description=data["description"],
                    definition=form.definition(),
                    user=request.user,
                )
            except FlowError as error:
                errors_add(form, error.errors, {"slug": "slug", **SETTING_FIELDS})
            else:
                messages.success(request, _("The flow was created: add its steps."))
                return redirect("flows:detail", slug=flow.slug)
        status = 400
    return render(request, "flows/create.html", {"form": form}, status=status)


def _settings_shown(definition: dict) -> dict:
    return {
        "trigger": trigger_words(definition.get("trigger")),
        "entry_rule": rule_words(definition.get("entry_rule"))
        if definition.get("entry_rule")
        else _("Everyone the trigger brings"),
        "reentry": reentry_words(definition.get("reentry")),
        "exits": [exit_words(rule) for rule in definition.get("exit") or []],
        "goal": goal_words(definition.get("goal")),
    }


def _counts(flow: Flow) -> dict:
    return selectors.flow_step_counts(flow=flow) if flow.version_id else {}


def editor_context(
    request, flow: Flow, *, errors: PlacedErrors | None = None, open_form: Open | None = None
) -> dict:
    """Return what the editor fragment (version, errors, step tree) needs."""
    definition = flow.definition or {}
    errors = errors or PlacedErrors()
    return {
        "flow": flow,
        "editable": can_edit(request, flow),
        "tree": tree_build(definition, counts=_counts(flow), errors=errors, open_form=open_form),
        "open": open_form or Open(),
        "kinds": kinds(),
        "errors": errors,
        "summary": errors_summary(definition, errors),
        "trigger_words": trigger_words(definition.get("trigger")),
        "changed": flow.version is not None and flow.version.definition != definition,
        "show_counts": flow.version_id is not None,
    }


def detail_render(
    request,
    flow: Flow,
    *,
    errors: PlacedErrors | None = None,
    open_form: Open | None = None,
    settings_form: SettingsForm | None = None,
    status: int = 200,
):
    """Render the whole editor page (also after a failed action, with its errors)."""
    editable = can_edit(request, flow)
    context = editor_context(request, flow, errors=errors, open_form=open_form)
    if editable:
        context["settings_form"] = settings_form or SettingsForm.for_flow(flow)
        context["builder_choices"] = rule_builder_choices()
    context["settings"] = _settings_shown(flow.definition or {})
    context["settings_open"] = settings_form is not None and bool(settings_form.errors)
    return render(request, "flows/detail.html", context, status=status)


def flow_detail(request, slug: str):
    """Show a flow: status and actions, its settings, and its steps as a tree of cards."""
    read_check(request)
    flow = get_object_or_404(Flow.objects.select_related("version"), slug=slug)
    return detail_render(request, flow)


@require_POST
def flow_settings(request, slug: str):
    """Save the trigger, entry rule, re-entry policy, exit rules and goal (working copy)."""
    edit_check(request)
    flow = get_object_or_404(Flow.objects.select_related("version"), slug=slug)
    form = SettingsForm.for_flow(flow, data=request.POST)
    if form.is_valid():
        try:
            services.flow_update(
                flow=flow,
                definition=form.apply(flow.definition or {}),
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except FlowError as error:
            errors_add(form, error.errors, SETTING_FIELDS)
        else:
            messages.success(request, _("The settings were saved."))
            return redirect("flows:detail", slug=flow.slug)
    return detail_render(request, flow, settings_form=form, status=400)


def _action(request, slug: str, action, done: str):
    edit_check(request)
    flow = get_object_or_404(Flow.objects.select_related("version"), slug=slug)
    try:
        action(flow=flow, user=request.user)
    except FlowError as error:
        flow.refresh_from_db()
        placed = errors_place(flow.definition or {}, error.errors)
        return detail_render(request, flow, errors=placed)
    messages.success(request, done)
    return redirect("flows:detail", slug=flow.slug)


@require_POST
def flow_go_live(request, slug: str):
    """Check the whole flow and start it; show what stops it on the cards it concerns."""
    return _action(request, slug, services.flow_go_live, _("The flow is live."))


@require_POST
def flow_pause(request, slug: str):
    """Stop moving the flow's enrollments until it goes live again."""
    return _action(request, slug, services.flow_pause, _("The flow is paused."))


@require_POST
def flow_archive(request, slug: str):
    """End the flow: its enrollments exit and its queued messages are cancelled."""
    return _action(request, slug, services.flow_archive, _("The flow is archived."))


def _step_at(flow: Flow, key: str) -> dict | None:
    """Return step ``key`` of the working copy, else of the newest version that has it."""
    definitions = [flow.definition or {}]
    definitions += list(flow.versions.order_by("-number").values_list("definition", flat=True))
    for definition in definitions:
        try:
            return step_get(definition, key)
        except TreeError:
            continue
    return None


def step_profiles(request, slug: str, key: str):
    """List the profiles behind one count of a step (entered, waiting, passed, exited …)."""
    read_check(request)
    flow = get_object_or_404(Flow, slug=slug)
    which = request.GET.get("which", "waiting")
    step = _step_at(flow, key)
    if which not in WHICH_LABELS or step is None:
        raise Http404
    enrollments = selectors.step_enrollments(flow=flow, step_key=key, which=which)
    page = Paginator(enrollments, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "flows/step_profiles.html",
        {
            "flow": flow,
            "key": key,
            "kind_label": KIND_LABELS.get(step.get("kind"), ""),
            "words": step_words(step),
            "which": which,
            "which_labels": WHICH_LABELS,
            "page": page,
            "counts": selectors.flow_step_counts(flow=flow).get(key, {}),
        },
    )
