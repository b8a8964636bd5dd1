import pytest

from classifiers.metrics import classification_report, expected_calibration_error


def test_report_on_a_known_confusion():
    r = classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 2], 3)
    assert r["accuracy"] == pytest.approx(0.8)
    assert r["per_class"][0] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert r["per_class"][1]["precision"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.99] * 4, [True, False, False, False]) == pytest.approx(0.74)
