"""How a campaign's history reads: what happened and its details in the user's language.

A CampaignChange stores an action name ("test_sent") and a JSON detail with raw keys and values
(ISO times in UTC, field names, ledger statuses). This module turns one into labels and local
times for the page, keeping the raw names for the title attribute.
"""

from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from campaigns.models import Campaign, CampaignChange, Send
from core.times import moment_text

ACTION_LABELS = {
    "created": gettext_lazy("created"),
    "updated": gettext_lazy("edited"),
    "scheduled": pgettext_lazy("campaign history", "scheduled"),
    "unscheduled": pgettext_lazy("campaign history", "taken back to draft"),
    "paused": pgettext_lazy("campaign history", "paused"),
    "resumed": pgettext_lazy("campaign history", "resumed"),
    "cancelled": pgettext_lazy("campaign history", "cancelled"),
    "test_sent": gettext_lazy("test message sent"),
    "started": gettext_lazy("sending started"),
    "finished": gettext_lazy("sending finished"),
    "halted": gettext_lazy("sending stopped by itself"),
    "winner_set": gettext_lazy("winner set"),
    "winner_split": gettext_lazy("rest split by weight"),
}
DETAIL_LABELS = {
    "name": gettext_lazy("name"),
    "fields": gettext_lazy("fields"),
    "send_at": gettext_lazy("send at"),
    "now": gettext_lazy("Send now"),
    "to": gettext_lazy("recipient"),
    "variant": gettext_lazy("variant"),
    "profile": gettext_lazy("profile"),
    "at": gettext_lazy("time"),
    "ledger": gettext_lazy("messages to send"),
    "decision": gettext_lazy("decision"),
    "tried": gettext_lazy("tried"),
    "error": gettext_lazy("error"),
    **{status.value: status.label for status in Send.Status},  # a finished send's counts
}
OUTCOME_LABELS = {
    "winner": gettext_lazy("significantly better"),
    "fallback_first": gettext_lazy("none significantly better: the first variant"),
    "fallback_split": gettext_lazy("none significantly better: split by weight"),
}
EXTRA_FIELD_LABELS = {"variants": gettext_lazy("variants")}
TIME_KEYS = ("at", "send_at")


@dataclass(frozen=True)
class DetailItem:
    key: str
    label: str
    value: str


@dataclass(frozen=True)
class HistoryRow:
    change: CampaignChange
    action: str
    label: str
    details: list[DetailItem]


def _field_label(name: str) -> str:
    if name in EXTRA_FIELD_LABELS:
        return str(EXTRA_FIELD_LABELS[name])
    try:
        return str(Campaign._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def _decision_text(decision: dict) -> str:
    if decision.get("by") != "auto":
        return _("by a campaign manager")
    outcome = decision.get("outcome", "")
    return str(OUTCOME_LABELS.get(outcome, outcome))


def _value_text(key: str, value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key == "fields" and isinstance(value, list):
        return _(", ").join(_field_label(name) for name in value)
    if key == "decision" and isinstance(value, dict):
        return _decision_text(value)
    if key in TIME_KEYS:
        return moment_text(value)
    return "—" if value is None else str(value)


def history_row(change: CampaignChange) -> HistoryRow:
    """Return one change with its action and details labelled and times local."""
    details = [
        DetailItem(key=key, label=str(DETAIL_LABELS.get(key, key)), value=_value_text(key, value))
        for key, value in (change.detail or {}).items()
    ]
    label = ACTION_LABELS.get(change.action, change.action)
    return HistoryRow(change=change, action=change.action, label=str(label), details=details)
