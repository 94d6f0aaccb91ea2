"""The segment rule condition on engagement with messages, plugged into segments.

``{"message": "opened" | "clicked" | "received", "campaign": "<slug>", "within_days": N}`` is
true when the profile was sent a message of that campaign (``campaign`` left out: of any
campaign) and, within the last ``within_days`` days (``now - N days <= moment <= now``, as event
windows), opened it or clicked a link in it (a ``TrackingEvent`` of kind open or click, at its
``at``), or for "received" the message was sent then (a ``Send`` with status sent, at its
``sent_at``).

Segments cannot import campaigns (campaigns → segments → profiles), so this app registers the
kind with ``segments.conditions.condition_register`` from ``CampaignsConfig.ready()``, as
journeys registers ``stage``:

- the node ``EngagementCondition`` and its parser, which, when a rule is read against the
  stored segments (the resolver is ``segments.selectors.segment_rule``: the segment form, the
  API, the model's ``clean()``, preview and evaluation), refuses a campaign that does not exist,
  naming the node. Parsing without that resolver stays pure (no query);
- the compiler: one correlated ``EXISTS`` on the sends (through their
  ``(profile, sent_at)`` index) or on their tracking events, in both plans. It reads no events,
  so the planner counts it among the cheap conditions that make a rule's candidates, as a tag;
- the explainer: how many opens, clicks or sent messages the window holds, and the last one;
- what the rule builder offers (the campaigns, the labels).

Opening and clicking are behaviour: a profile that withdrew personalised profiling is left out
of a rule that asks about them (as of one on events). Receiving a message is not its behaviour.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.validators import slug_re
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from campaigns.models import Campaign, Send, TrackingEvent
from campaigns.selectors import campaign_choices
from core.times import moment_text
from segments import rules
from segments.conditions import condition_register
from segments.selectors import segment_rule

RECEIVED, OPENED, CLICKED = "received", "opened", "clicked"
MESSAGE_EVENTS = (OPENED, CLICKED, RECEIVED)
TRACKED = {OPENED: TrackingEvent.Kind.OPEN, CLICKED: TrackingEvent.Kind.CLICK}
MESSAGE_LABELS = {
    OPENED: pgettext_lazy("message", "opened"),
    CLICKED: pgettext_lazy("message", "clicked"),
    RECEIVED: pgettext_lazy("message", "received"),
}
CAMPAIGN_SLUG_LENGTH = Campaign._meta.get_field("slug").max_length

ERROR_UNKNOWN_MESSAGE = gettext_lazy("Unknown message event “{op}”; use one of {ops}.")
ERROR_CAMPAIGN_SLUG = gettext_lazy(
    "Expected a campaign slug of 1 to {limit} letters, digits, “-” or “_”, e.g. spring-sale."
)
ERROR_UNKNOWN_CAMPAIGN = gettext_lazy("There is no campaign “{slug}”.")


@dataclass(frozen=True)
class EngagementCondition:
    """The profile opened, clicked or received a message (of a campaign, or of any: "")."""

    message: str
    within_days: int
    campaign: str = ""

    def to_json(self) -> dict:
        data: dict = {"message": self.message}
        if self.campaign:
            data["campaign"] = self.campaign
        data["within_days"] = self.within_days
        return data


def _campaign_slug(raw, path: str) -> str:
    if not isinstance(raw, str) or len(raw) > CAMPAIGN_SLUG_LENGTH or not slug_re.match(raw):
        raise rules.RuleError(path, ERROR_CAMPAIGN_SLUG.format(limit=CAMPAIGN_SLUG_LENGTH))
    return raw


def parse_engagement(node, path: str, ctx: rules.ParseContext, depth: int) -> EngagementCondition:
    """Parse ``{"message": …, "campaign": slug, "within_days": N}`` (``campaign`` optional);
    with the stored segments, check that the campaign exists."""
    rules.check_keys(node, path, ("message", "within_days"), ("campaign",))
    message = rules.parse_choice(
        node["message"], MESSAGE_EVENTS, rules.key_path(path, "message"), ERROR_UNKNOWN_MESSAGE
    )
    within_days = rules.parse_days(node["within_days"], rules.key_path(path, "within_days"))
    campaign = ""
    if "campaign" in node:
        campaign_path = rules.key_path(path, "campaign")
        campaign = _campaign_slug(node["campaign"], campaign_path)
        if ctx.resolve is segment_rule and not Campaign.objects.filter(slug=campaign).exists():
            raise rules.RuleError(campaign_path, ERROR_UNKNOWN_CAMPAIGN.format(slug=campaign))
    return EngagementCondition(message=message, within_days=within_days, campaign=campaign)


def engagement_rows(node: EngagementCondition, *, now: datetime.datetime) -> tuple[QuerySet, str]:
    """Return the rows that make the condition true for their profile (sends, or tracking events)
    within its window, and the path from a row to its profile."""
    since = now - datetime.timedelta(days=node.within_days)
    if node.message == RECEIVED:
        rows = Send.objects.filter(status=Send.Status.SENT, sent_at__gte=since, sent_at__lte=now)
        profile, campaign = "profile", "campaign__slug"
    else:
        rows = TrackingEvent.objects.filter(kind=TRACKED[node.message], at__gte=since, at__lte=now)
        profile, campaign = "send__profile", "send__campaign__slug"
    if node.campaign:
        rows = rows.filter(**{campaign: node.campaign})
    return rows, profile


def compile_engagement(node: EngagementCondition, path: str, env) -> Q:
    """Compile an engagement condition: EXISTS one such row of the profile (in either plan)."""
    rows, profile = engagement_rows(node, now=env.now)
    return Q(Exists(rows.filter(**{profile: OuterRef("pk")})))


def _format(moment: datetime.datetime) -> str:
    return moment_text(moment)


def explain_engagement(node: EngagementCondition, profile, now):
    """Return (kind, how many rows the window holds, the same for people with the last one)."""
    rows, profile_path = engagement_rows(node, now=now)
    moment = "sent_at" if node.message == RECEIVED else "at"
    found = rows.filter(**{profile_path: profile.pk}).aggregate(count=Count("pk"), last=Max(moment))
    since = now - datetime.timedelta(days=node.within_days)
    campaign = (
        _("campaign “{slug}”").format(slug=node.campaign) if node.campaign else _("any campaign")
    )
    window = {
        "message": MESSAGE_LABELS[node.message],
        "campaign": campaign,
        "since": _format(since),
        "until": _format(now),
    }
    if not found["count"]:
        return (
            "message",
            0,
            _("{message}: none in {campaign} from {since} to {until}").format(**window),
        )
    shown = _("{message}: {count} in {campaign} from {since} to {until}, the last at {last}")
    return (
        "message",
        found["count"],
        shown.format(count=found["count"], last=_format(found["last"]), **window),
    )


def _campaign_names() -> dict[str, str]:
    return dict(campaign_choices())


def describe_engagement(node, w) -> str:
    """Say an engagement condition: "最近 30 天 打开过 活动 春季促销 的消息" (segments.sentence)."""
    message = node["message"]
    if message not in MESSAGE_EVENTS:
        raise ValueError(message)
    action = w.term(MESSAGE_LABELS[message], message)
    slug = node.get("campaign")
    if slug:
        name = w.cached("campaigns", _campaign_names).get(slug) or slug
        campaign = w.fill(_("the campaign %(campaign)s"), campaign=w.term(name, slug))
    else:
        campaign = _("any campaign")
    return w.fill(
        _("%(action)s a message of %(campaign)s in the last %(days)s days"),
        action=action,
        campaign=campaign,
        days=int(node["within_days"]),
    )


def engagement_builder() -> dict:
    """Return what the rule builder offers for the condition: its label, events and campaigns."""
    return {
        "label": _("Message engagement"),
        "messages": [[key, str(MESSAGE_LABELS[key])] for key in MESSAGE_EVENTS],
        "campaigns": [[slug, name] for slug, name in campaign_choices()],
        "any_campaign": _("any campaign"),
        "within_days": _("in the last … days"),
    }


def engagement_condition_register() -> None:
    """Plug the engagement condition into the segment rule engine (idempotent)."""
    condition_register(
        "message",
        node_type=EngagementCondition,
        parser=parse_engagement,
        compiler=compile_engagement,
        explainer=explain_engagement,
        profile_columns=lambda node: set(),
        behaviour=lambda node: node.message in TRACKED,
        builder=engagement_builder,
        describer=describe_engagement,
    )
