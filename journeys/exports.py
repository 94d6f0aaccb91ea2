"""The export of the journey funnel, with the funnel page's filters."""

from django.utils.translation import gettext_lazy as _

from core.roles import ALL_ROLES
from journeys import selectors
from journeys.forms import FunnelFilterForm
from profiles.exports import ExportError, ExportKind, ExportTable, list_table
from segments.rules import RuleError
from segments.selectors import segment_slugs

FUNNEL_PARAMS = ("segment", "channel", "signup_from", "signup_to")
FUNNEL_COLUMNS = (
    ("stage", _("Stage")),
    ("reached", _("Reached")),
    ("share", _("Share of profiles")),
    ("conversion", _("Conversion from previous")),
    ("median_hours", _("Median time from previous (hours)")),
)


def funnel_table(*, user, params: dict) -> ExportTable:
    """Return each active stage with how many reached it, its share, conversion and median time."""
    form = FunnelFilterForm(
        params, segments=segment_slugs(), channels=selectors.acquisition_channels()
    )
    if not form.is_valid():
        raise ExportError(" ".join(str(e) for errors in form.errors.values() for e in errors))
    try:
        result = selectors.funnel(form.filters())
    except RuleError as error:
        raise ExportError(error.message) from None
    rows = [
        (
            stage["name"],
            stage["reached"],
            stage["share"],
            stage["conversion"],
            None if stage["median_seconds"] is None else round(stage["median_seconds"] / 3600, 2),
        )
        for stage in result["stages"]
    ]
    filters = ", ".join(f"{key}={value}" for key, value in sorted(params.items()))
    return list_table(
        name="funnel",
        title=str(_("Journey funnel")),
        what=f"journey funnel ({filters})" if filters else "journey funnel",
        columns=FUNNEL_COLUMNS,
        rows=rows,
    )


EXPORT_KINDS = (
    ExportKind(name="funnel", roles=ALL_ROLES, build=funnel_table, params=FUNNEL_PARAMS),
)
