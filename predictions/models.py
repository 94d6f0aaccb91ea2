"""Prediction refreshes, the scores of each profile, clusters and association rules."""

from django.db import models
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from profiles.models import Profile

# The contract's fields of a profile's scores, in the order the API and the writer use.
SCORE_NAMES = (
    "p_alive",
    "churn_risk",
    "repurchase_probability_90d",
    "expected_purchases_90d",
    "clv_365d",
    "cluster",
    "recommendations",
    "scored_at",
)


class PredictionRun(models.Model):
    """One refresh (or backtest) of the models: what it was trained on and how well it did.

    ``report`` holds the figures of the model page as plain JSON: sample sizes, the held-out
    AUC of each model and of the recency-only baseline, calibration by decile, lift at the top
    decile, feature importances, fitted parameters, phase timings and the clusters' silhouettes.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        LIVE = "live", _("Live: its scores are in use")
        KEPT = "kept", _("Not used: the previous scores were kept")
        REPLACED = "replaced", _("Replaced by a later refresh")
        DONE = "done", _("Done (a backtest never goes live)")
        FAILED = "failed", _("Failed: no scores")

    class Kind(models.TextChoices):
        REFRESH = "refresh", _("Refresh")
        BACKTEST = "backtest", _("Backtest")

    class Chosen(models.TextChoices):
        BGNBD = "bgnbd", _("BG/NBD + Gamma-Gamma")
        SUPERVISED = "supervised", _("Gradient boosting on events")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.REFRESH)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    as_of = models.DateTimeField(_("scored as of"))
    cutoff = models.DateTimeField(_("training cut-off"))
    chosen = models.CharField(
        _("chosen model"), max_length=12, choices=Chosen.choices, blank=True, default=""
    )
    message = models.TextField(_("message"), blank=True, default="")
    report = models.JSONField(_("report"), default=dict, blank=True)
    scored = models.PositiveIntegerField(_("profiles scored"), default=0)
    job = models.ForeignKey(
        "core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("prediction refresh")
        verbose_name_plural = _("prediction refreshes")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.as_of:%Y-%m-%d %H:%M}"

    def message_display(self) -> str:
        """Return why the run kept the old scores or failed, in the active language."""
        found = self.report.get("message") if isinstance(self.report, dict) else None
        if not found:
            return self.message
        params = {
            key: gettext(value) if isinstance(value, str) else value
            for key, value in found.get("params", {}).items()
        }
        try:
            return gettext(found["text"]).format(**params)
        except (KeyError, IndexError, ValueError):
            return self.message


class Prediction(models.Model):
    """The live scores of one profile (only profiles with a purchase and profiling allowed)."""

    profile = models.OneToOneField(
        Profile, on_delete=models.CASCADE, primary_key=True, related_name="prediction"
    )
    p_alive = models.FloatField(_("probability still a customer"))
    churn_risk = models.FloatField(_("churn risk"), db_index=True)
    repurchase_probability_90d = models.FloatField(_("repurchase probability (90 days)"))
    expected_purchases_90d = models.FloatField(_("expected purchases (90 days)"))
    clv_365d = models.DecimalField(
        _("customer lifetime value (365 days)"), max_digits=14, decimal_places=2, db_index=True
    )
    cluster = models.CharField(_("cluster"), max_length=64, blank=True, default="", db_index=True)
    recommendations = models.JSONField(_("recommendations"), default=list, blank=True)
    scored_at = models.DateTimeField(_("scored at"))
    run = models.ForeignKey(PredictionRun, on_delete=models.PROTECT, related_name="predictions")

    class Meta:
        verbose_name = _("prediction")
        verbose_name_plural = _("predictions")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(p_alive__gte=0, p_alive__lte=1)
                & models.Q(churn_risk__gte=0, churn_risk__lte=1)
                & models.Q(repurchase_probability_90d__gte=0, repurchase_probability_90d__lte=1)
                & models.Q(expected_purchases_90d__gte=0)
                & models.Q(clv_365d__gte=0),
                name="prediction_scores_in_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.profile_id}: churn {self.churn_risk:.2f}"


class Cluster(models.Model):
    """A group of customers found by k-means, kept under one slug across refreshes."""

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    named_by_people = models.BooleanField(_("named by people"), default=False)
    size = models.PositiveIntegerField(_("size"), default=0)
    active = models.BooleanField(_("in the live model"), default=True)
    # Where the cluster sits (log1p feature space) and what sets it apart (TGI, means).
    centroid = models.JSONField(_("centroid"), default=list, blank=True)
    portrait = models.JSONField(_("portrait"), default=dict, blank=True)
    run = models.ForeignKey(
        PredictionRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="clusters"
    )

    class Meta:
        ordering = ["-active", "-size", "slug"]
        verbose_name = _("cluster")
        verbose_name_plural = _("clusters")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """Return the name people gave it, or the proposed one in the active language."""
        if self.named_by_people:
            return self.name
        names = self.portrait.get("names", {}) if isinstance(self.portrait, dict) else {}
        return names.get(get_language() or "", "") or self.name


class AssociationRule(models.Model):
    """ "Who bought these also bought that", mined from the baskets of one refresh."""

    run = models.ForeignKey(PredictionRun, on_delete=models.CASCADE, related_name="rules")
    antecedent = models.JSONField(_("if bought"))
    consequent = models.CharField(_("then buys"), max_length=128)
    support = models.FloatField(_("support"))
    confidence = models.FloatField(_("confidence"))
    lift = models.FloatField(_("lift"))
    count = models.PositiveIntegerField(_("baskets"))

    class Meta:
        ordering = ["-lift", "-confidence", "pk"]
        verbose_name = _("association rule")
        verbose_name_plural = _("association rules")

    def __str__(self) -> str:
        return f"{' + '.join(self.antecedent)} → {self.consequent}"
