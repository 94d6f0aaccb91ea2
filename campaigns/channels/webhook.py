"""Webhooks as a channel: each recipient becomes one signed JSON POST to a webhook endpoint.

A variant names the endpoint (``endpoint``: its slug) and holds the body, a JSON template of the
profile's fields rendered in the sandbox (``{"id": "{{ external_id }}", "n": {{ orders }}}``);
a body that does not render to valid JSON fails its row with the parse error. The recipient's
address is their external id. Consent: a profile must have granted the endpoint's declared
consent channel (``WebhookEndpoint.consent_channel``) for the campaign's purpose: the endpoint
is a way of reaching them through another system (a CRM's email, a partner's app).

What the receiver's answer does to the row (``campaigns.webhooks``): 2xx sent; 410 and other
4xx fail for good with the code; 408/425/429, 5xx and timeouts are retried by the ledger with
its backoff. Every attempt is written to the endpoint's delivery log, with the same
``X-Webhook-Delivery`` (``campaign:<send id>``) on each attempt of one row.
"""

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from campaigns.channels.base import PLAIN, TEXT, ChannelSpec, ContentField, register
from campaigns.delivery.render import NotRendered
from campaigns.delivery.transports import Outcome
from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.webhooks import (
    ERROR_DISABLED,
    WebhookClient,
    campaign_delivery_id,
    deliveries_log,
    delivery_row,
    endpoint_client,
)
from core.errors import coded

ERROR_NOT_JSON = coded(
    "webhook.not_json",
    gettext_noop("The webhook body is not valid JSON after rendering: {error} (near “{near}”)."),
)
ERROR_NO_ENDPOINT = coded(
    "webhook.no_endpoint", gettext_noop("There is no webhook endpoint “{slug}”.")
)


@dataclass(frozen=True)
class WebhookMessage:
    """One POST: the endpoint's slug, the body, and the ledger row it is for."""

    endpoint: str
    body: bytes
    send_id: int
    attempt: int
    label: str = ""  # the campaign's name, for the delivery log

    @property
    def message_id(self) -> str:
        return campaign_delivery_id(self.send_id)


def body_json(text: str) -> bytes:
    """Return the rendered body as UTF-8 bytes; raise NotRendered when it is not valid JSON."""
    try:
        json.loads(text)
    except ValueError as exc:
        position = getattr(exc, "pos", 0) or 0
        near = text[max(position - 20, 0) : position + 20]
        raise NotRendered(ERROR_NOT_JSON.format(error=getattr(exc, "msg", exc), near=near)) from exc
    return text.encode()


@register
class WebhookChannel(ChannelSpec):
    key = "webhook"
    label = _("Webhook")
    consent_channel = "email"  # the default; each endpoint declares its own (consent_for)
    address_field = "external_id"
    address_label = _("External ID")
    content = (
        ContentField(
            "endpoint",
            _("Webhook endpoint"),
            kind=PLAIN,
            required=True,
            help_text=_("The slug of an endpoint on the webhook endpoints page."),
            max_length=100,
        ),
        ContentField(
            "body",
            _("JSON body"),
            kind=TEXT,
            required=True,
            help_text=_('A JSON template, e.g. {"id": "{{ external_id }}"}; it must stay JSON.'),
            max_length=20000,
        ),
    )
    rate_setting = "WEBHOOK_RATE_PER_SECOND"
    position = 90

    def content_errors(self, values, *, complete: bool) -> dict[str, str]:
        """The endpoint must exist; the body, rendered with sample values, must be JSON."""
        from campaigns.services.channel_content import fields_compile

        errors = {}
        slug = values.get("endpoint")
        if slug and not WebhookEndpoint.objects.filter(slug=slug).exists():
            errors["endpoint"] = ERROR_NO_ENDPOINT.format(slug=slug)
        if values.get("body"):
            try:
                sample = fields_compile(self, values).sample_render()
            except Exception:  # a template error: the template check reports it
                return errors
            try:
                body_json(str(sample.get("body") or ""))
            except NotRendered as exc:
                errors["body"] = str(exc)
        return errors

    def consent_for(self, campaign) -> str:
        """Return the consent channel of the endpoint the campaign's first variant posts to."""
        variant = campaign.variants.order_by("key").first()
        slug = (variant.fields or {}).get("endpoint") if variant is not None else None
        endpoint = WebhookEndpoint.objects.filter(slug=slug).only("consent_channel").first()
        return endpoint.consent_channel if endpoint is not None else self.consent_channel

    def build(self, renderer, row) -> WebhookMessage:
        message = self.message(row, renderer.fields(row))
        return dataclasses.replace(message, label=renderer.campaign.name)

    def message(self, row, rendered: Mapping) -> WebhookMessage:
        return WebhookMessage(
            endpoint=str(rendered.get("endpoint") or ""),
            body=body_json(str(rendered.get("body") or "")),
            send_id=row.pk,
            attempt=(row.attempts or 0) + 1,
        )

    def transport(self):
        return WebhookTransport()


class WebhookTransport:
    """Posts each message to its endpoint, one kept-alive connection per endpoint, and logs
    every attempt in the endpoint's delivery log."""

    def __init__(self):
        self.broken: Exception | None = None  # a POST's failure is the message's, never ours
        self.endpoints: dict[str, WebhookEndpoint | None] = {}
        self.clients: dict[str, WebhookClient] = {}

    def open(self) -> None:
        """Nothing to connect before the first message (each endpoint connects on first use)."""

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        self.endpoints.clear()

    def _endpoint(self, slug: str) -> WebhookEndpoint | None:
        if slug not in self.endpoints:
            self.endpoints[slug] = WebhookEndpoint.objects.filter(slug=slug).first()
        return self.endpoints[slug]

    def send(self, messages: Sequence[WebhookMessage], pace: Callable[[], None]) -> list[Outcome]:
        outcomes, log = [], []
        for message in messages:
            endpoint = self._endpoint(message.endpoint)
            if endpoint is None:
                outcomes.append(
                    Outcome(ERROR_NO_ENDPOINT.dumps(slug=message.endpoint), permanent=True)
                )
                continue
            if not endpoint.active:
                outcomes.append(Outcome(ERROR_DISABLED.dumps(name=endpoint.name), permanent=True))
                continue
            client = self.clients.get(endpoint.slug) or endpoint_client(endpoint)
            self.clients[endpoint.slug] = client
            pace()
            answer = client.post(
                message.body, delivery_id=message.message_id, attempt=message.attempt
            )
            log.append(
                delivery_row(
                    endpoint_id=endpoint.pk,
                    answer=answer,
                    delivery_id=message.message_id,
                    attempt=message.attempt,
                    source=WebhookDelivery.Source.CAMPAIGN,
                    send_id=message.send_id,
                    label=message.label,
                )
            )
            outcome = (
                Outcome(provider_id=message.message_id)
                if answer.ok
                else Outcome(answer.error, permanent=answer.permanent)
            )
            outcomes.append(outcome)
        deliveries_log(log)
        return outcomes
