"""Webhook endpoint pages: the list, create, edit, disable or enable, rotate the secret, and one
endpoint with its delivery log. Everyone with a role reads; campaign managers change."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns import selectors
from campaigns.models import WebhookEndpoint
from campaigns.services import webhooks as services
from core.roles import ALL_ROLES, CAMPAIGN_MANAGER, require_role, user_has_role
from profiles.models import ConsentChannel

LOG_ROWS = 100
ERROR_URL_SCHEME = gettext_lazy("Give an address starting with http:// or https://.")


class EndpointForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    url = forms.URLField(label=gettext_lazy("Address (URL)"), max_length=500, assume_scheme="https")
    consent_channel = forms.ChoiceField(
        label=gettext_lazy("Consent checked"),
        choices=ConsentChannel.choices,
        help_text=gettext_lazy(
            "A campaign posts a profile only if it granted this channel for the campaign's purpose."
        ),
    )
    timeout_seconds = forms.IntegerField(
        label=gettext_lazy("Timeout (seconds)"), min_value=1, max_value=30, initial=5
    )

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError(ERROR_URL_SCHEME)
        return url


def _read(request) -> None:
    require_role(request.user, *ALL_ROLES)


def _manage(request) -> None:
    require_role(request.user, CAMPAIGN_MANAGER)


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def webhook_list(request):
    """List the endpoints, active ones first."""
    _read(request)
    endpoints = WebhookEndpoint.objects.order_by("-active", "name", "pk")
    return render(request, "campaigns/webhooks/list.html", {"endpoints": endpoints})


def webhook_create(request):
    """Create an endpoint; its signing secret is made here and shown on its page."""
    _manage(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.webhook_endpoint_create(
                **form.cleaned_data, created_by=request.user
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Endpoint created. Give its secret to the receiver."))
            return redirect("campaigns:webhook", slug=endpoint.slug)
    return render(request, "campaigns/webhooks/form.html", {"form": form, "endpoint": None})


def webhook_edit(request, slug: str):
    """Change an endpoint's name, address, consent channel or timeout."""
    _manage(request)
    endpoint = get_object_or_404(WebhookEndpoint, slug=slug)
    initial = {name: getattr(endpoint, name) for name in EndpointForm.base_fields}
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_endpoint_update(endpoint=endpoint, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Endpoint saved."))
            return redirect("campaigns:webhook", slug=endpoint.slug)
    return render(request, "campaigns/webhooks/form.html", {"form": form, "endpoint": endpoint})


def webhook_detail(request, slug: str):
    """Show an endpoint (its secret to managers) and its latest delivery attempts."""
    _read(request)
    endpoint = get_object_or_404(WebhookEndpoint, slug=slug)
    return render(
        request,
        "campaigns/webhooks/detail.html",
        {
            "endpoint": endpoint,
            "deliveries": selectors.webhook_deliveries_recent(endpoint=endpoint, limit=LOG_ROWS),
            "log_rows": LOG_ROWS,
            "secret_shown": user_has_role(request.user, CAMPAIGN_MANAGER),
        },
    )


@require_POST
def webhook_active(request, slug: str):
    """Disable an endpoint (its posts fail with the reason) or enable it again."""
    _manage(request)
    endpoint = get_object_or_404(WebhookEndpoint, slug=slug)
    active = request.POST.get("active") == "1"
    services.webhook_endpoint_update(endpoint=endpoint, active=active)
    messages.success(request, _("Endpoint enabled.") if active else _("Endpoint disabled."))
    return redirect("campaigns:webhook", slug=slug)


@require_POST
def webhook_rotate(request, slug: str):
    """Give the endpoint a new signing secret."""
    _manage(request)
    endpoint = get_object_or_404(WebhookEndpoint, slug=slug)
    services.webhook_secret_rotate(endpoint=endpoint)
    messages.success(request, _("New secret made: the old one no longer signs."))
    return redirect("campaigns:webhook", slug=slug)
