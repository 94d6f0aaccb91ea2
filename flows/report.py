"""A flow's report: who entered and how they left, its splits' paths compared, its sends' delivery.

Definitions (the report page says the same):

- *entered*: enrollments (a profile entering twice counts twice); *converted*: enrollments that
  reached the flow's goal (``Enrollment.converted_at``) within its window from their entry.
- A split's path counts the enrollments the split sent down it, across every version that has
  the split's key; its conversion rate is conversions over them, with a 95 % Wilson interval.
  Each path is compared with the control path (the split's ``control``, else its first path) by
  the campaigns' statistics (``campaigns.results``): a two-sided two-proportion z-test and the
  difference and relative lift with their intervals. The sample-ratio check compares the paths'
  sizes with what each version's percentages lead to expect.
- A send step's delivery sums the ledgers of its campaigns (one per version) as the campaigns'
  own report counts them: sent, delivered, opens and clicks (unique per message), failures,
  skips by reason, and messages still queued.
"""

from collections import defaultdict
from collections.abc import Mapping

from django.db.models import Count, Q

from campaigns.results import (
    ALPHA,
    campaign_results,
    lift,
    proportion,
    sample_ratio_check,
    two_proportion_z_test,
)
from campaigns.selectors import campaign_report
from flows.labels import exit_label, step_label, steps_by_key
from flows.models import Enrollment, Flow, FlowMessage, FlowVersion, StepRun

PENDING_SEND_STATUSES = ("queued", "sending", "waiting")


def flow_report(*, flow: Flow) -> dict:
    """Return the flow's totals, its split steps compared path by path, its send steps' delivery."""
    versions = dict(
        FlowVersion.objects.filter(flow=flow).order_by("number").values_list("pk", "definition")
    )
    steps = _steps(flow, versions)
    return {
        "flow": flow,
        "totals": _totals(flow),
        "splits": _splits(flow, steps, versions),
        "sends": _sends(flow, steps),
    }


def _steps(flow: Flow, versions: Mapping[int, dict]) -> dict[str, Mapping]:
    """Return every step key the flow has had, each with its newest definition, in reading order.

    The working copy comes first (its order and names are the ones people see), then the
    versions from the newest, for steps since removed."""
    steps: dict[str, Mapping] = {}
    for definition in [flow.definition, *reversed(list(versions.values()))]:
        for key, step in steps_by_key(definition).items():
            steps.setdefault(key, step)
    return steps


def _totals(flow: Flow) -> dict:
    """Return entered, active, completed, exited (and by reason) and converted: one query."""
    rows = (
        Enrollment.objects.filter(flow=flow)
        .order_by()
        .values_list("status", "exit_reason")
        .annotate(n=Count("pk"), converted=Count("pk", filter=Q(converted_at__isnull=False)))
    )
    by_status: dict[str, int] = dict.fromkeys(Enrollment.Status.values, 0)
    reasons: dict[str, int] = defaultdict(int)
    converted = 0
    for status, reason, n, converted_n in rows:
        by_status[status] += n
        converted += converted_n
        if status == Enrollment.Status.EXITED:
            reasons[reason] += n
    entered = sum(by_status.values())
    return {
        "entered": entered,
        "active": by_status[Enrollment.Status.ACTIVE],
        "completed": by_status[Enrollment.Status.COMPLETED],
        "exited": by_status[Enrollment.Status.EXITED],
        "exited_by_reason": [
            {"reason": reason, "label": exit_label(reason) or reason, "n": n}
            for reason, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        ],
        "converted": converted,
        "conversion_rate": proportion(converted, entered),
    }


def _split_counts(flow: Flow, keys: list[str]) -> dict[str, dict[tuple[int, str], tuple]]:
    """Return, per split key, {(version id, path): (enrollments, conversions)}: one query."""
    rows = (
        StepRun.objects.filter(flow=flow, step_key__in=keys)
        .exclude(outcome="")
        .order_by()
        .values_list("step_key", "enrollment__version_id", "outcome")
        .annotate(
            n=Count("pk"),
            converted=Count("pk", filter=Q(enrollment__converted_at__isnull=False)),
        )
    )
    counts: dict[str, dict[tuple[int, str], tuple]] = defaultdict(dict)
    for key, version_id, outcome, n, converted in rows:
        counts[key][(version_id, outcome)] = (n, converted)
    return counts


def _splits(flow: Flow, steps: Mapping[str, Mapping], versions: Mapping[int, dict]) -> list[dict]:
    keys = [key for key, step in steps.items() if step.get("kind") == "split"]
    counts = _split_counts(flow, keys) if keys else {}
    splits = []
    for key in keys:
        by_version = {
            version_id: steps_by_key(definition).get(key)
            for version_id, definition in versions.items()
        }
        splits.append(split_compare(steps[key], counts.get(key, {}), by_version))
    return splits


def _percents(step: Mapping | None) -> dict[str, int]:
    percents = (step or {}).get("percents")
    return dict(percents) if isinstance(percents, Mapping) else {}


def _expected(
    counts: Mapping[tuple[int, str], tuple], by_version: Mapping[int, Mapping | None]
) -> dict[str, float]:
    """Return how many enrollments each path should have had by each version's percentages."""
    drawn: dict[int, int] = defaultdict(int)
    for (version_id, _path), (n, _converted) in counts.items():
        drawn[version_id] += n
    expected: dict[str, float] = defaultdict(float)
    for version_id, version_step in by_version.items():
        for path, percent in _percents(version_step).items():
            expected[path] += drawn[version_id] * percent / 100
    return expected


def split_compare(
    step: Mapping, counts: Mapping[tuple[int, str], tuple], by_version: Mapping[int, Mapping | None]
) -> dict:
    """Return one split's paths (enrollments, conversions, rate) compared with its control.

    ``counts`` maps (version id, path) to (enrollments, conversions); ``by_version`` gives the
    split step as each version defined it, for the percentages the paths were drawn with."""
    paths = list(_percents(step))
    paths += sorted({path for _version, path in counts} - set(paths))
    totals = {path: [0, 0] for path in paths}
    for (_version, path), (n, converted) in counts.items():
        totals[path][0] += n
        totals[path][1] += converted
    given = step.get("control")
    control = given if given in totals else (paths[0] if paths else None)
    rows = [_path_row(path, totals, control) for path in paths]
    expected = _expected(counts, by_version)
    checked = [path for path in sorted(expected) if expected[path] > 0]
    observed = [totals[path][0] if path in totals else 0 for path in checked]
    return {
        "key": step.get("key", ""),
        "label": step_label(step, step.get("key", "")),
        "control": control,
        "control_given": given == control,
        "paths": rows,
        "enrollments": sum(row["enrollments"] for row in rows),
        "srm": sample_ratio_check(observed, [expected[path] for path in checked]),
    }


def _path_row(path: str, totals: Mapping[str, list[int]], control: str | None) -> dict:
    n, converted = totals[path]
    row = {
        "path": path,
        "is_control": path == control,
        "enrollments": n,
        "conversions": converted,
        "conversion_rate": proportion(converted, n),
        "vs_control": None,
    }
    if control is not None and path != control:
        control_n, control_converted = totals[control]
        test = two_proportion_z_test(control_converted, control_n, converted, n)
        row["vs_control"] = {
            "test": None
            if test is None
            else {"z": test[0], "p": test[1], "significant": test[1] < ALPHA},
            "lift": lift(converted, n, control_converted, control_n),
        }
    return row


def _send_counts(campaign) -> dict:
    """Return one campaign's delivery counts as the campaigns' report and results count them."""
    report = campaign_report(campaign=campaign)
    statuses = dict.fromkeys(report["columns"], 0)
    for row in report["by_variant"]:
        for status, n in zip(report["columns"], row["cells"], strict=True):
            statuses[status] += n
    totals = campaign_results(campaign=campaign)["totals"]
    return {
        "sent": totals["sent"],
        "delivered": totals["delivered"],
        "opens": totals["opens"],
        "clicks": totals["clicks"],
        "failed": statuses.get("failed", 0),
        "skipped": statuses.get("skipped", 0),
        "pending": sum(statuses.get(status, 0) for status in PENDING_SEND_STATUSES),
        "skips": {row["reason"]: (row["label"], row["n"]) for row in report["skips"]},
    }


def _sends(flow: Flow, steps: Mapping[str, Mapping]) -> list[dict]:
    """Return each send step's delivery, summed over the campaigns of its versions."""
    messages = (
        FlowMessage.objects.filter(version__flow=flow)
        .select_related("campaign", "version")
        .order_by("version__number")
    )
    by_step: dict[str, list[FlowMessage]] = defaultdict(list)
    for message in messages:
        by_step[message.step_key].append(message)
    ordered = [key for key in steps if key in by_step]
    ordered += sorted(set(by_step) - set(ordered))
    return [send_summary(key, steps.get(key), by_step[key]) for key in ordered]


def send_summary(key: str, step: Mapping | None, messages: list[FlowMessage]) -> dict:
    """Return a send step's delivery counts and rates summed over its campaigns."""
    summed = dict.fromkeys(("sent", "delivered", "opens", "clicks", "failed", "skipped"), 0)
    summed["pending"] = 0
    skips: dict[str, list] = {}
    for message in messages:
        counts = _send_counts(message.campaign)
        for name in summed:
            summed[name] += counts[name]
        for reason, (label, n) in counts["skips"].items():
            skips.setdefault(reason, [str(label), 0])[1] += n
    return {
        "key": key,
        "label": step_label(step, key),
        "campaigns": [
            {"version": message.version.number, "slug": message.campaign.slug}
            for message in messages
        ],
        **summed,
        "skips": [
            {"reason": reason, "label": label, "n": n}
            for reason, (label, n) in sorted(skips.items(), key=lambda item: -item[1][1])
        ],
        "open_rate": proportion(summed["opens"], summed["delivered"]),
        "click_rate": proportion(summed["clicks"], summed["delivered"]),
    }
