"""The flow report page: totals, each split's paths against its control, each send's delivery."""

from django.shortcuts import get_object_or_404, render

from core.roles import ALL_ROLES, require_role
from flows.models import Flow
from flows.profile import flow_url
from flows.report import flow_report


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _interval(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{100 * low:.1f}% – {100 * high:.1f}%"


def _p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _rate(rate) -> dict:
    return {"rate": _percent(rate.rate), "ci": _interval(rate.low, rate.high)}


def _versus(row: dict) -> dict | None:
    """Return a path's comparison with the control as shown, or None for the control itself."""
    versus = row["vs_control"]
    if versus is None:
        return None
    lift, test = versus["lift"], versus["test"]
    return {
        "difference": _percent(lift and lift["difference"]),
        "difference_ci": _interval(
            lift and lift["difference_low"], lift and lift["difference_high"]
        ),
        "relative": _percent(lift and lift["relative"]),
        "relative_ci": _interval(lift and lift["relative_low"], lift and lift["relative_high"]),
        "p": _p_value(test and test["p"]),
        "significant": bool(test and test["significant"]),
    }


def _split_shown(split: dict) -> dict:
    srm = split["srm"]
    return {
        **split,
        "rows": [
            {**row, "rate": _rate(row["conversion_rate"]), "versus": _versus(row)}
            for row in split["paths"]
        ],
        "srm_shown": srm and {**srm, "p_shown": _p_value(srm["p"]), "chi2": f"{srm['chi2']:.2f}"},
    }


def flow_report_page(request, slug: str):
    """Show the flow's report (every role reads it)."""
    require_role(request.user, *ALL_ROLES)
    flow = get_object_or_404(Flow, slug=slug)
    report = flow_report(flow=flow)
    return render(
        request,
        "flows/report.html",
        {
            "flow": flow,
            "flow_url": flow_url(flow.slug),
            "totals": report["totals"],
            "conversion": _rate(report["totals"]["conversion_rate"]),
            "splits": [_split_shown(split) for split in report["splits"]],
            "sends": [
                {**send, "open": _rate(send["open_rate"]), "click": _rate(send["click_rate"])}
                for send in report["sends"]
            ],
        },
    )
