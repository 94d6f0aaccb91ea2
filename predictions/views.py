"""The prediction pages: the model page of each refresh, clusters with portraits, the rules."""

import json
import math

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.charts import figure_html
from core.roles import ALL_ROLES, OPS, require_role, user_has_role
from predictions import charts, selectors
from predictions.forms import ClusterRenameForm, RuleFilterForm
from predictions.labels import MODEL_LABELS, feature_label, model_label, phase_label
from predictions.models import Cluster, PredictionRun
from predictions.services import predictions_refresh_enqueue
from predictions.store import cluster_rename

MODEL_KEYS = ("bgnbd", "supervised", "recency")


def _model_rows(report: dict, chosen: str) -> list[dict]:
    """Return one row per model of the report: name, AUC, lift, chosen, baseline."""
    models = report.get("models") or {}
    return [
        {
            "key": key,
            "label": model_label(key),
            "auc": models[key].get("auc"),
            "lift": models[key].get("lift_top_decile"),
            "chosen": key == chosen,
            "baseline": key == "recency",
        }
        for key in MODEL_KEYS
        if key in models
    ]


def _model_charts(report: dict) -> dict:
    models = report.get("models") or {}
    curves = {
        model_label(key): models[key]["calibration"]
        for key in MODEL_KEYS
        if (models.get(key) or {}).get("calibration")
    }
    importances = [
        (feature_label(row["feature"]), row["importance"])
        for row in (models.get("supervised") or {}).get("importances") or []
    ][:20]
    return {
        "calibration_chart": figure_html(
            charts.calibration_figure(
                curves,
                title=_("Calibration on held-out customers: predicted vs observed, by decile"),
                predicted_label=_("Predicted probability of buying again"),
                observed_label=_("Share that bought again"),
            )
        )
        if curves
        else "",
        "importances_chart": figure_html(
            charts.importances_figure(importances, title=_("Feature importances"))
        )
        if importances
        else "",
    }


def _auc(run: PredictionRun, key: str) -> float | None:
    return ((run.report.get("models") or {}).get(key) or {}).get("auc")


def _history(runs: list[PredictionRun]) -> str:
    rows = [
        {"at": run.as_of, **{key: _auc(run, key) for key in MODEL_KEYS}}
        for run in reversed(runs)
        if run.report.get("models")
    ]
    if len(rows) < 2:
        return ""
    names = {key: str(label) for key, label in MODEL_LABELS.items()}
    return figure_html(
        charts.auc_history_figure(
            rows, names, title=_("Held-out AUC over the refreshes"), auc_label=_("AUC")
        )
    )


def model(request, pk: int | None = None):
    """Show one refresh (the live one by default): samples, AUC, calibration, importances."""
    require_role(request.user, *ALL_ROLES)
    if pk is None:
        run = selectors.run_shown()
    else:
        try:
            run = selectors.run_get(pk=pk)
        except PredictionRun.DoesNotExist:
            raise Http404 from None
    runs = list(selectors.runs_recent(limit=30))
    context = {
        "run": run,
        "live": selectors.run_live(),
        "running": selectors.run_running(),
        "runs": runs,
        "history_chart": _history(runs),
        "can_refresh": user_has_role(request.user, OPS),
    }
    if run is not None:
        report = run.report or {}
        context.update(
            report=report,
            models=_model_rows(report, run.chosen),
            params=((report.get("models") or {}).get("bgnbd") or {}).get("params"),
            gamma=((report.get("models") or {}).get("bgnbd") or {}).get("gamma_gamma"),
            phases=[
                {**phase, "label": phase_label(phase.get("name", ""))}
                for phase in report.get("phases") or []
            ],
            **_model_charts(report),
        )
    return render(request, "predictions/model.html", context)


@require_POST
def refresh(request):
    """Start a refresh now and show its job (ops staff)."""
    require_role(request.user, OPS)
    running = selectors.run_running()
    if running is not None and running.job_id:
        messages.info(request, _("A refresh is already running."))
        return redirect("job-detail", pk=running.job_id)
    job = predictions_refresh_enqueue(user=request.user)
    return redirect("job-detail", pk=job.pk)


def _distinctness(row: dict) -> float:
    """Return how far an index is from 100 either way: 25 (a quarter) is as far as 400."""
    return abs(math.log(max(row["index"], 1.0) / 100))


def _portrait(cluster: Cluster) -> dict:
    portrait = cluster.portrait or {}
    features = sorted(portrait.get("features") or [], key=_distinctness, reverse=True)
    tags = sorted(portrait.get("tags") or [], key=lambda row: row["tgi"], reverse=True)
    return {
        "share": portrait.get("share"),
        "features": [{**row, "label": feature_label(row["feature"])} for row in features],
        "tags": tags,
    }


def clusters(request):
    """List the clusters of the live model with their size, share and strongest traits."""
    require_role(request.user, *ALL_ROLES)
    rows = [{"cluster": cluster, **_portrait(cluster)} for cluster in selectors.clusters_active()]
    for row in rows:
        row["top_features"] = row["features"][:3]
        row["top_tags"] = row["tags"][:3]
    run = selectors.run_live()
    return render(
        request,
        "predictions/clusters.html",
        {"rows": rows, "run": run, "k": ((run.report if run else {}).get("clusters") or {})},
    )


def cluster_detail(request, slug: str):
    """Show a cluster's portrait; ops staff may rename it (refreshes keep the name)."""
    require_role(request.user, *ALL_ROLES)
    try:
        cluster = selectors.cluster_get(slug=slug)
    except Cluster.DoesNotExist:
        raise Http404 from None
    can_edit = user_has_role(request.user, OPS)
    form = ClusterRenameForm(request.POST or None, initial={"name": cluster.display_name})
    if request.method == "POST":
        require_role(request.user, OPS)
        if form.is_valid():
            cluster_rename(cluster=cluster, name=form.cleaned_data["name"])
            messages.success(request, _("The cluster is now called “%(name)s”.") % {
                "name": cluster.name})  # fmt: skip
            return redirect("predictions:cluster", slug=cluster.slug)
    portrait = _portrait(cluster)
    chart = figure_html(
        charts.portrait_figure(
            [(row["label"], row["index"]) for row in portrait["features"][:12]],
            title=_("How this cluster differs from all customers"),
            index_label=_("Index (100 = all customers)"),
        )
    )
    return render(
        request,
        "predictions/cluster.html",
        {
            "cluster": cluster,
            "form": form,
            "can_edit": can_edit,
            "portrait_chart": chart if portrait["features"] else "",
            "segment_rule_json": json.dumps(
                {"attr": "cluster", "op": "eq", "value": cluster.slug}, ensure_ascii=False
            ),
            **portrait,
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def rules(request):
    """List the association rules of the live refresh with filters, strongest first."""
    require_role(request.user, *ALL_ROLES)
    run = selectors.run_live()
    form = RuleFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    found = selectors.rules_filtered(run=run, **filters)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "predictions/rules.html",
        {"run": run, "form": form, "page": page, "query": query.urlencode()},
    )
