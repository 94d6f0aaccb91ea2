"""The purchase scores of a refresh: evaluate both models at the cut-off, score at ``now``.

``purchase_evaluate`` runs the backtest (``predictions.backtest``) on the histories at the
training cut-off; ``purchase_scores`` applies its choice to the histories at ``now``:

- ``p_alive``, ``expected_purchases_90d`` and, with Gamma-Gamma's spend, ``clv_365d`` come
  from BG/NBD refitted on everyone's history up to ``now``;
- ``repurchase_probability_90d`` (at least one purchase in the next 90 days) comes from the
  chosen model, and ``churn_risk`` is its complement.

If spend cannot be modelled (no amounts, say), each customer's value uses the base's mean
amount per purchase instead (0 without any amount).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from predictions.backtest import RECENCY, BacktestResult, backtest, repurchase_probability
from predictions.bgnbd import bgnbd_expected_purchases, bgnbd_fit, bgnbd_p_alive
from predictions.clv import clv
from predictions.errors import ModelError
from predictions.features import Histories
from predictions.gamma_gamma import gamma_gamma_expected_spend, gamma_gamma_fit

HORIZON_DAYS = 90.0
VALUE_DAYS = 365.0


@dataclass(frozen=True)
class PurchaseEvaluation:
    """The backtest at the cut-off, and the feature columns the classifier was trained on."""

    result: BacktestResult
    extra_names: tuple[str, ...]

    @property
    def chosen(self) -> str:
        return self.result.chosen

    def auc(self, name: str) -> float | None:
        return self.result.reports[name].auc

    @property
    def beats_baseline(self) -> bool:
        """Whether the chosen model's held-out AUC is above recency alone's."""
        chosen, baseline = self.auc(self.chosen), self.auc(RECENCY)
        return chosen is not None and (baseline is None or chosen > baseline)

    def summary(self) -> dict:
        return {
            "model": self.chosen,
            "auc": self.auc(self.chosen) or 0.0,
            "baseline": self.auc(RECENCY) or 0.0,
        }

    def sizes(self) -> dict:
        return {
            "train": self.result.n_train,
            "held_out": self.result.n_holdout,
            "held_out_purchase_rate": round(self.result.holdout_purchase_rate, 6),
        }

    def report(self) -> dict:
        """Return the models' figures in the shape the model page reads."""
        figures = self.result.as_dict()
        models = {}
        for name, found in figures["models"].items():
            models[name] = {
                "auc": found["auc"],
                "lift_top_decile": found["lift_top_decile"],
                "calibration": [
                    {
                        "decile": b["decile"],
                        "predicted": b["mean_predicted"],
                        "observed": b["observed_rate"],
                        "count": b["count"],
                    }
                    for b in found["calibration"] or []
                ],
                "importances": [
                    {"feature": i["feature"], "importance": i["mean"], "std": i["std"]}
                    for i in found["importances"]
                ],
            }
        models["bgnbd"]["params"] = figures["bgnbd_params"]
        return {"models": models, "chosen": self.chosen}


@dataclass(frozen=True)
class PurchaseScores:
    """The purchase scores of every customer at ``now``, aligned with its histories."""

    p_alive: np.ndarray
    repurchase_probability_90d: np.ndarray
    expected_purchases_90d: np.ndarray
    clv_365d: np.ndarray
    report: dict


def purchase_evaluate(
    past: Histories, labels: np.ndarray, *, random_state: int = 0
) -> PurchaseEvaluation:
    """Fit both models at the cut-off and judge them on held-out customers (ModelError if not)."""
    result = backtest(
        x=past.x,
        t_x=past.t_x,
        T=past.T,
        monetary=past.monetary_mean,
        label=labels.astype(int),
        extra=past.activity,
        extra_names=past.activity_names,
        horizon_days=HORIZON_DAYS,
        random_state=random_state,
    )
    return PurchaseEvaluation(result=result, extra_names=past.activity_names)


def purchase_scores(current: Histories, evaluation: PurchaseEvaluation) -> PurchaseScores:
    """Return every customer's purchase scores at ``now`` (see the module docstring)."""
    x, t_x, T = current.x, current.t_x, current.T
    params = bgnbd_fit(x, t_x, T)
    probability = repurchase_probability(
        evaluation.result,
        x=x,
        t_x=t_x,
        T=T,
        monetary=current.monetary_mean,
        extra=current.activity,
        extra_names=current.activity_names,
        bgnbd_params=params,
    )
    report = {"bgnbd_now": params.as_dict()}
    try:
        spend_params = gamma_gamma_fit(x, current.monetary_mean)
        value = clv(params, spend_params, x, t_x, T, current.monetary_mean, VALUE_DAYS)
        report["gamma_gamma"] = spend_params.as_dict()
        report["average_spend"] = float(
            np.mean(gamma_gamma_expected_spend(spend_params, x, current.monetary_mean))
        )
    except ModelError as exc:
        mean_spend = float(current.monetary_mean.mean()) if len(current) else 0.0
        value = bgnbd_expected_purchases(params, VALUE_DAYS, x, t_x, T) * mean_spend
        report["gamma_gamma_error"] = str(exc)
    return PurchaseScores(
        p_alive=bgnbd_p_alive(params, x, t_x, T),
        repurchase_probability_90d=probability,
        expected_purchases_90d=bgnbd_expected_purchases(params, HORIZON_DAYS, x, t_x, T),
        clv_365d=value,
        report=report,
    )
