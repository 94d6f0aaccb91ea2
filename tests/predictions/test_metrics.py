"""Held-out measures checked against small examples worked by hand."""

import json

import numpy as np
import pytest

from predictions.metrics import (
    CalibrationBin,
    auc,
    calibration_by_decile,
    lift_top_decile,
    model_report,
    plain,
)


def test_auc_counts_the_pairs_ranked_right():
    # pairs (positive, negative): (0.35, 0.1) right, (0.35, 0.4) wrong, (0.8, ·) both right
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75


def test_auc_counts_a_tie_as_half():
    assert auc([0, 1], [0.5, 0.5]) == 0.5


def test_auc_is_none_with_a_single_class():
    assert auc([1, 1, 1], [0.2, 0.3, 0.4]) is None
    assert auc([], []) is None


def test_calibration_cuts_ten_groups_in_order_of_prediction():
    p = np.arange(20) / 20
    y = (np.arange(20) % 2 == 1).astype(int)

    bins = calibration_by_decile(y[::-1], p[::-1])

    assert len(bins) == 10
    assert bins[0] == CalibrationBin(1, 0.025, 0.5, 2)
    assert bins[9] == CalibrationBin(10, pytest.approx(0.925), 0.5, 2)


def test_calibration_groups_differ_in_size_by_at_most_one():
    bins = calibration_by_decile(np.zeros(25), np.linspace(0, 1, 25))

    assert [b.count for b in bins] == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]


def test_calibration_leaves_out_empty_groups():
    bins = calibration_by_decile([0, 1, 1], [0.2, 0.5, 0.9])

    assert bins == [
        CalibrationBin(1, 0.2, 0.0, 1),
        CalibrationBin(2, 0.5, 1.0, 1),
        CalibrationBin(3, 0.9, 1.0, 1),
    ]


def test_lift_is_the_top_tenths_rate_over_the_overall_rate():
    y = np.zeros(20)
    y[[0, 5, 10, 15]] = 1  # overall rate 0.2
    score = np.arange(20.0)
    score[0] = 100  # top two: positions 0 (bought) and 19 (did not)

    assert lift_top_decile(y, score) == pytest.approx(0.5 / 0.2)


def test_lift_takes_the_top_tenth_rounded_up():
    y = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # 11 customers: the top tenth is 2 customers
    score = [9, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]

    assert lift_top_decile(y, score) == pytest.approx(0.5 / (2 / 11))


def test_lift_is_none_when_nobody_bought():
    assert lift_top_decile([0, 0, 0], [1, 2, 3]) is None


def test_plain_turns_numpy_values_into_json_values_and_nan_into_none():
    value = plain({"a": np.float64(0.5), "b": [np.int64(3), np.float32(np.nan)], "c": np.bool_(1)})

    assert value == {"a": 0.5, "b": [3, None], "c": True}
    assert type(value["a"]) is float
    assert type(value["b"][0]) is int


def test_a_report_is_strict_json():
    y = np.array([0, 1] * 50)
    report = model_report(
        "bgnbd",
        y,
        np.linspace(0, 1, 100),
        probability=True,
        importances=[("recency_days", np.float64(0.1), np.float64(0.01))],
    )

    text = json.dumps(report.as_dict(), allow_nan=False)

    decoded = json.loads(text)
    assert decoded["auc"] == pytest.approx(auc(y, np.linspace(0, 1, 100)))
    assert decoded["calibration"][0] == {
        "decile": 1,
        "mean_predicted": pytest.approx(0.04545454),
        "observed_rate": 0.5,
        "count": 10,
    }
    assert decoded["importances"] == [{"feature": "recency_days", "mean": 0.1, "std": 0.01}]


def test_metrics_refuse_labels_other_than_zero_and_one():
    with pytest.raises(ValueError, match="only 0 and 1"):
        auc([0, 2], [0.1, 0.2])
