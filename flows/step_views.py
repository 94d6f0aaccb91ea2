"""The step tree's edits, in place with htmx: add a step at a position, edit one, remove one.

Each answers an htmx request with the editor fragment (the tree, with the form still open when
it has errors) and a plain form post with the whole page, so the editor works without script.
Every save goes through ``flows.services.flow_update`` on the working copy: a live flow gets a
new version at each save.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from flows import services
from flows.definition import FlowError
from flows.editor import Open, step_form
from flows.models import Flow
from flows.step_forms import STEP_FORMS, StepForm
from flows.tree import (
    Position,
    TreeError,
    errors_place,
    key_new,
    keys_all,
    place_target,
    step_change,
    step_get,
    step_insert,
    step_remove,
    steps_walk,
)
from flows.views import detail_render, edit_check, editor_context, read_check


def _respond(request, flow: Flow, *, open_form: Open | None = None, errors=None):
    if request.htmx:
        context = editor_context(request, flow, errors=errors, open_form=open_form)
        return render(request, "flows/_editor.html", context)
    return detail_render(request, flow, open_form=open_form, errors=errors)


def _saved(request, flow: Flow):
    if request.htmx:
        return render(request, "flows/_editor.html", editor_context(request, flow))
    return redirect("flows:detail", slug=flow.slug)


def _flow_to_edit(request, slug: str) -> Flow:
    edit_check(request)
    flow = get_object_or_404(Flow.objects.select_related("version"), slug=slug)
    if flow.status == Flow.Status.ARCHIVED:
        raise PermissionDenied
    return flow


def _errors_on_form(form: StepForm, errors, definition: dict, key: str) -> None:
    """Show the definition's errors about step ``key`` on its fields, the rest above them."""
    here = next(
        (place for step, place in steps_walk(definition.get("steps")) if step.get("key") == key),
        None,
    )
    for place, message in errors:
        target, outcome = place_target(definition, place)
        field = None
        if here and target == key and outcome is None and place.startswith(here + "."):
            field = form.field_of(place[len(here) + 1 :])
        form.add_error(field if field in form.fields else None, str(message))


def _save(request, flow: Flow, form: StepForm, change, key: str | None = None) -> bool:
    """Apply ``change`` (definition → definition) and save it; put what fails on the form."""
    try:
        definition = change(flow.definition or {})
    except TreeError as error:
        form.add_error(None, str(error))
        return False
    try:
        services.flow_update(flow=flow, definition=definition, user=request.user)
    except FlowError as error:
        _errors_on_form(form, error.errors, definition, key or "")
        return False
    return True


def _position(source) -> Position:
    return Position(
        after=source.get("after") or None,
        parent=source.get("parent") or None,
        path=source.get("path") or None,
    )


def _taken_keys(flow: Flow) -> set[str]:
    versions = flow.versions.values_list("definition", flat=True)
    return keys_all([flow.definition or {}, *versions])


@require_GET
def editor_fragment(request, slug: str):
    """Return the editor with no form open (what "Cancel" shows)."""
    read_check(request)
    flow = get_object_or_404(Flow.objects.select_related("version"), slug=slug)
    return _respond(request, flow)


def step_add(request, slug: str):
    """Offer the kinds of step, then the chosen kind's form, at a position; add the step."""
    flow = _flow_to_edit(request, slug)
    source = request.POST if request.method == "POST" else request.GET
    position = _position(source)
    kind = source.get("kind") if source.get("kind") in STEP_FORMS else None
    if request.method != "POST" or kind is None:
        form = step_form(kind) if kind else None
        return _respond(request, flow, open_form=Open(form=form, position=position, kind=kind))
    form = step_form(kind, data=request.POST)
    if form.is_valid():
        key = key_new(kind, _taken_keys(flow))
        step = {"key": key, "kind": kind, **form.config()}
        if _save(request, flow, form, lambda d: step_insert(d, step, position), key):
            return _saved(request, flow)
    return _respond(request, flow, open_form=Open(form=form, position=position, kind=kind))


def step_edit(request, slug: str, key: str):
    """Show a step's form in place of its card; save it (its key and kind stay)."""
    flow = _flow_to_edit(request, slug)
    try:
        step = step_get(flow.definition or {}, key)
    except TreeError:
        raise Http404 from None
    if request.method != "POST":
        form = step_form(step["kind"], step=step)
        return _respond(request, flow, open_form=Open(form=form, key=key))
    form = step_form(step["kind"], step=step, data=request.POST)
    if form.is_valid():
        config = form.config()
        if _save(request, flow, form, lambda d: step_change(d, key, config), key):
            return _saved(request, flow)
    return _respond(request, flow, open_form=Open(form=form, key=key))


@require_POST
def step_delete(request, slug: str, key: str):
    """Remove a step (a branching step with all its paths)."""
    flow = _flow_to_edit(request, slug)
    try:
        definition = step_remove(flow.definition or {}, key)
    except TreeError:
        raise Http404 from None
    try:
        services.flow_update(flow=flow, definition=definition, user=request.user)
    except FlowError as error:  # a live flow must stay complete: say what removing would break
        return _respond(request, flow, errors=errors_place(definition, error.errors))
    return _saved(request, flow)
