"""Held-out measures of a purchase score (AUC, calibration by decile, lift) as plain JSON values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from sklearn.metrics import roc_auc_score

DECILES = 10


class CalibrationBin(NamedTuple):
    """One decile of predictions: its number (1 = lowest), mean predicted, observed rate, size."""

    decile: int
    mean_predicted: float
    observed_rate: float
    count: int


def _labels_scores(y, score) -> tuple[np.ndarray, np.ndarray]:
    y, score = np.asarray(y, dtype=float).ravel(), np.asarray(score, dtype=float).ravel()
    if len(y) != len(score):
        raise ValueError(f"y and score differ in length: {len(y)}, {len(score)}.")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise ValueError("y must hold only 0 and 1.")
    if not np.all(np.isfinite(score)):
        raise ValueError("score must be finite.")
    return y, score


def auc(y, score) -> float | None:
    """Return the area under the ROC curve, or None when y holds a single class (or nothing)."""
    y, score = _labels_scores(y, score)
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, score))


def calibration_by_decile(y, p) -> list[CalibrationBin]:
    """Return, for each tenth of customers ordered by predicted probability, predicted vs observed.

    Customers are sorted by ``p`` (ties in their given order) and cut into ten groups whose sizes
    differ by at most one; empty groups (fewer than ten customers) are left out.
    """
    y, p = _labels_scores(y, p)
    order = np.argsort(p, kind="stable")
    bins = []
    for number, part in enumerate(np.array_split(order, DECILES), start=1):
        if len(part):
            bins.append(
                CalibrationBin(number, float(p[part].mean()), float(y[part].mean()), len(part))
            )
    return bins


def lift_top_decile(y, score) -> float | None:
    """Return the purchase rate among the top tenth by score over the overall rate.

    The top tenth is the ⌈n/10⌉ highest scores (ties in their given order). Return None when
    nobody purchased or there is no customer.
    """
    y, score = _labels_scores(y, score)
    if len(y) == 0 or y.sum() == 0:
        return None
    top = np.argsort(-score, kind="stable")[: math.ceil(len(y) / DECILES)]
    return float(y[top].mean() / y.mean())


def plain(value: Any) -> Any:
    """Return ``value`` with numpy numbers as Python ones and NaN/inf as None (JSON-safe)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


@dataclass(frozen=True)
class ModelReport:
    """How one score did on the held-out customers."""

    name: str
    auc: float | None
    lift_top_decile: float | None
    calibration: list[CalibrationBin] | None  # None for a score that is not a probability
    importances: list[tuple[str, float, float]] = field(default_factory=list)  # name, mean, std

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON values (floats, ints, None, lists, dicts)."""
        calibration = None
        if self.calibration is not None:
            calibration = [bin_._asdict() for bin_ in self.calibration]
        return plain(
            {
                "name": self.name,
                "auc": self.auc,
                "lift_top_decile": self.lift_top_decile,
                "calibration": calibration,
                "importances": [
                    {"feature": name, "mean": mean, "std": std}
                    for name, mean, std in self.importances
                ],
            }
        )


def model_report(name: str, y, score, *, probability: bool, importances=()) -> ModelReport:
    """Return the held-out report of one score; calibration only when it is a probability."""
    return ModelReport(
        name=name,
        auc=auc(y, score),
        lift_top_decile=lift_top_decile(y, score),
        calibration=calibration_by_decile(y, score) if probability else None,
        importances=list(importances),
    )
