"""What may start a flow: the trigger's JSON and its checks.

- ``{"type": "event", "event": "add_to_cart", "where": {"category": "beauty"}}``
- ``{"type": "segment_entered", "segment": "<slug>"}``
- ``{"type": "stage_entered", "stage": "<slug>"}``
- ``{"type": "date", "attr": "birth_date" | "signup_at" | "traits.<key>", "offset_days": -3,
  "annual": true, "time": "09:00"}``: the day the date comes round (plus offset)
- ``{"type": "message", "message": "opened" | "clicked", "campaign": "<slug>"}`` (campaign
  optional: any campaign)
"""

from collections.abc import Iterator, Mapping

from django.utils.translation import gettext_lazy as _

TYPES = ("event", "segment_entered", "stage_entered", "date", "message")
DATE_FIELDS = ("birth_date", "signup_at")

ERROR_TRIGGER = _("Choose what starts the flow: one of {types}.")
ERROR_EVENT = _("Name the event that starts the flow.")
ERROR_WHERE = _("Give the event's properties to match as an object of names to text or numbers.")
ERROR_SEGMENT = _("There is no segment “{slug}”.")
ERROR_STAGE = _("There is no journey stage “{slug}”.")
ERROR_DATE_ATTR = _("The date is birth_date, signup_at or traits.<name>.")
ERROR_DATE_OFFSET = _("The offset is a whole number of days between -365 and 365.")
ERROR_DATE_TIME = _("Give the time of day as HH:MM.")
ERROR_MESSAGE = _("The message trigger is opened or clicked.")
ERROR_CAMPAIGN = _("There is no campaign “{slug}”.")


def trigger_key(trigger: Mapping) -> str:
    """Return what the trigger listens to (event name, segment or stage slug, campaign slug)."""
    kind = trigger.get("type")
    field = {"event": "event", "segment_entered": "segment", "stage_entered": "stage"}.get(kind)
    if kind == "message":
        return str(trigger.get("campaign") or "")
    if kind == "date":
        return str(trigger.get("attr") or "")
    return str(trigger.get(field) or "") if field else ""


def where_matches(where: Mapping | None, properties: Mapping | None) -> bool:
    """Return whether an event's properties hold every ``where`` value."""
    properties = properties or {}
    return all(properties.get(name) == value for name, value in (where or {}).items())


def _event_errors(trigger: Mapping) -> Iterator[tuple[str, str]]:
    if not isinstance(trigger.get("event"), str) or not trigger["event"].strip():
        yield "trigger.event", ERROR_EVENT
    where = trigger.get("where", {})
    scalar = (str, int, float, bool)
    if not isinstance(where, dict) or not all(isinstance(v, scalar) for v in where.values()):
        yield "trigger.where", ERROR_WHERE


def _date_errors(trigger: Mapping) -> Iterator[tuple[str, str]]:
    attr = trigger.get("attr")
    if not isinstance(attr, str) or not (attr in DATE_FIELDS or attr.startswith("traits.")):
        yield "trigger.attr", ERROR_DATE_ATTR
    offset = trigger.get("offset_days", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or not -365 <= offset <= 365:
        yield "trigger.offset_days", ERROR_DATE_OFFSET
    from flows.definition import clock

    if clock(trigger.get("time", "09:00")) is None:
        yield "trigger.time", ERROR_DATE_TIME


def _reference_errors(trigger: Mapping) -> Iterator[tuple[str, str]]:
    from campaigns.models import Campaign
    from journeys.models import JourneyStage
    from segments.models import Segment

    kind = trigger["type"]
    if kind == "segment_entered":
        slug = trigger.get("segment")
        if not Segment.objects.filter(slug=str(slug)).exists():
            yield "trigger.segment", ERROR_SEGMENT.format(slug=slug)
    elif kind == "stage_entered":
        slug = trigger.get("stage")
        if not JourneyStage.objects.filter(slug=str(slug)).exists():
            yield "trigger.stage", ERROR_STAGE.format(slug=slug)
    elif kind == "message":
        if trigger.get("message") not in ("opened", "clicked"):
            yield "trigger.message", ERROR_MESSAGE
        slug = trigger.get("campaign")
        if slug and not Campaign.objects.filter(slug=str(slug)).exists():
            yield "trigger.campaign", ERROR_CAMPAIGN.format(slug=slug)


def trigger_errors(trigger, *, complete: bool) -> Iterator[tuple[str, str]]:
    """Yield (place, message) for what is wrong with a trigger (missing: only when complete)."""
    if trigger in (None, {}):
        if complete:
            yield "trigger", ERROR_TRIGGER.format(types=", ".join(TYPES))
        return
    if not isinstance(trigger, dict) or trigger.get("type") not in TYPES:
        yield "trigger", ERROR_TRIGGER.format(types=", ".join(TYPES))
        return
    if trigger["type"] == "event":
        yield from _event_errors(trigger)
    elif trigger["type"] == "date":
        yield from _date_errors(trigger)
    else:
        yield from _reference_errors(trigger)
