"""Shared builders for the flows tests: definitions and a live flow in one call."""

from flows.models import Flow
from flows.services import flow_create, flow_go_live


def event_trigger(event: str = "add_to_cart", **extra) -> dict:
    return {"type": "event", "event": event, **extra}


def definition(steps: list, *, trigger=None, **extra) -> dict:
    return {
        "trigger": trigger or event_trigger(),
        "reentry": {"policy": "once"},
        "steps": steps,
        **extra,
    }


def email_step(key: str = "mail", subject: str = "Hi {{ name }}", **extra) -> dict:
    return {
        "key": key,
        "kind": "send",
        "channel": "email",
        "variants": [
            {"key": "A", "weight": 100, "subject": subject, "body_text": "Hello {{ name }}"}
        ],
        **extra,
    }


def live_flow(steps: list, *, slug: str = "cart", **extra) -> Flow:
    flow = flow_create(name=slug.title(), slug=slug, definition=definition(steps, **extra))
    return flow_go_live(flow=flow)
