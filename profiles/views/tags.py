"""Pages for ops staff: the tag taxonomy, its forms, and bulk tagging of a filtered selection."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.roles import ALL_ROLES, OPS, require_role, user_has_role
from profiles import selectors as tag_selectors
from profiles.forms import BulkTagForm, ProfileFilterForm, TagCategoryForm, TagForm
from profiles.models import Tag, TagCategory
from profiles.services import tags as services


def tag_taxonomy(request):
    """List the categories with their tags and how many profiles carry each."""
    require_role(request.user, *ALL_ROLES)
    return render(
        request,
        "profiles/tags/taxonomy.html",
        {
            "categories": tag_selectors.tag_taxonomy(),
            "can_edit": user_has_role(request.user, OPS),
        },
    )


def tag_category_form(request, slug: str | None = None):
    """Create a category, or edit the one with ``slug``."""
    require_role(request.user, OPS)
    category = get_object_or_404(TagCategory, slug=slug) if slug else None
    initial = model_to_dict(category) if category else None
    form = TagCategoryForm(request.POST or None, initial=initial)
    if form.is_valid():
        try:
            if category:
                services.tag_category_update(category=category, **form.cleaned_data)
            else:
                category = services.tag_category_create(**form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, _("Saved the category “%(label)s”.") % {"label": category.label}
            )
            return redirect("profiles:tags")
    return render(request, "profiles/tags/category_form.html", {"form": form, "category": category})


def tag_form(request, slug: str | None = None):
    """Create a tag, or edit the one with ``slug``."""
    require_role(request.user, OPS)
    try:
        tag = tag_selectors.tag_get(slug=slug) if slug else None
    except Tag.DoesNotExist:
        raise Http404 from None
    initial = model_to_dict(tag) if tag else {"category": request.GET.get("category")}
    form = TagForm(request.POST or None, initial=initial)
    if form.is_valid():
        try:
            if tag:
                services.tag_update(tag=tag, **form.cleaned_data)
            else:
                tag = services.tag_create(**form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved the tag “%(label)s”.") % {"label": tag.label})
            return redirect("profiles:tags")
    carried = tag_selectors.tag_profile_count(tag=tag) if tag else 0
    return render(
        request, "profiles/tags/tag_form.html", {"form": form, "tag": tag, "carried": carried}
    )


@require_POST
def tag_delete(request, slug: str):
    """Delete a tag; while profiles carry it, only when the user confirmed removing it."""
    require_role(request.user, OPS)
    try:
        tag = tag_selectors.tag_get(slug=slug)
    except Tag.DoesNotExist:
        raise Http404 from None
    try:
        removed = services.tag_delete(tag=tag, force=request.POST.get("force") == "on")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("profiles:tag-edit", slug=tag.slug)
    messages.success(
        request,
        ngettext(
            "Deleted the tag “%(tag)s” and took it off %(count)d profile.",
            "Deleted the tag “%(tag)s” and took it off %(count)d profiles.",
            removed,
        )
        % {"tag": tag.label, "count": removed},
    )
    return redirect("profiles:tags")


def tag_bulk(request):
    """Add a tag to, or remove it from, every profile matching the filters."""
    require_role(request.user, OPS)
    if request.method != "POST":
        return _bulk_page(request, BulkTagForm(initial=request.GET.dict()), request.GET)
    form = BulkTagForm(request.POST)
    outcome = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            outcome = services.tag_bulk_apply(
                tag=data["target"],
                action=data["action"],
                filters=form.filters(),
                user=request.user,
                expires_at=data["expires_at"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    if outcome is None:
        return _bulk_page(request, form, request.POST)
    if outcome.job:
        text = _("%(count)d profiles match: the change runs in the background.")
        messages.info(request, text % {"count": outcome.matched})
        return redirect("job-detail", pk=outcome.job.pk)
    messages.success(request, _bulk_message(data["action"], data["target"], outcome.changed))
    kept = {k: v for k, v in request.POST.items() if k in ProfileFilterForm.base_fields}
    return redirect(f"{reverse('profiles:tags-bulk')}?{urlencode(kept)}")


def tag_bulk_count(request):
    """Return the fragment saying how many profiles match the filters (requested by htmx)."""
    require_role(request.user, OPS)
    return render(request, "profiles/tags/_bulk_count.html", _count_context(request.GET))


def _count_context(data) -> dict:
    filters = ProfileFilterForm(data)
    matched = None
    if filters.is_valid():
        matched = tag_selectors.profile_filter(**filters.filters()).count()
    return {"matched": matched, "filters": filters, "inline_limit": services.BULK_INLINE_LIMIT}


def _bulk_page(request, form: BulkTagForm, data):
    return render(request, "profiles/tags/bulk.html", {"form": form, **_count_context(data)})


def _bulk_message(action: str, tag: Tag, changed: int) -> str:
    if action == services.ACTION_ADD:
        text = ngettext(
            "Added “%(tag)s” to %(count)d profile.",
            "Added “%(tag)s” to %(count)d profiles.",
            changed,
        )
    else:
        text = ngettext(
            "Removed “%(tag)s” from %(count)d profile.",
            "Removed “%(tag)s” from %(count)d profiles.",
            changed,
        )
    return text % {"tag": tag.label, "count": changed}
